"""Exceptions whose message is one sentence a person can act on."""


class XmmExplorerError(Exception):
    """Base class: the message names the file/column/value and what was expected."""


class IngestError(XmmExplorerError):
    """A catalogue file could not be ingested."""


class CatalogueError(XmmExplorerError):
    """An ingested release is missing or unreadable."""
