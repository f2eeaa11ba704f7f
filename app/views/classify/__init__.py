"""The Classify game's views: tutorial, clue board, answer panel, player card and leaderboard."""
