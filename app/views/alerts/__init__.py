"""The Alerts page's session state and views: filters, table, rate chart, sky, detail with review, replay."""

from app.views.alerts.charts import AlertSky, RateChart
from app.views.alerts.detail import AlertDetail
from app.views.alerts.filters import AlertFilters
from app.views.alerts.replay import ReplayBox
from app.views.alerts.runs import RunList
from app.views.alerts.state import AlertsState
from app.views.alerts.table import AlertTable

__all__ = ["AlertDetail", "AlertFilters", "AlertSky", "AlertTable", "AlertsState", "RateChart", "ReplayBox", "RunList"]
