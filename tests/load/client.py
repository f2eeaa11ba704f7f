"""Simulated Explore sessions over Bokeh's own websocket protocol, many per asyncio loop.

A :class:`SimulatedSession` does what a browser tab does on the wire, without a browser:
``GET /explore`` (the server creates the session and renders the page), open the page's
websocket with the token from that HTML, pull the document, then send the same
``PATCH-DOC`` messages BokehJS sends when a user pans the sky (the sky plot's
``x_range``/``y_range``), moves the detection-likelihood filter, or taps the sky inside the
current view. The latency of a pan or filter is the time from sending it to receiving the
server's patch of the sky image's data source, i.e. the new picture; of a tap, to the first
patch of what the tap changed (source card, marker, message). Incoming patches are not applied to the
local document (no client work beyond parsing), so the load generator stays light.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from dataclasses import dataclass, field

from bokeh.client.websocket import WebSocketClientConnectionWrapper
from bokeh.protocol import Protocol
from bokeh.protocol.messages.patch_doc import patch_doc
from bokeh.protocol.receiver import Receiver
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect


def _objects(node, found: dict[str, dict]) -> dict[str, dict]:
    """Every serialized Bokeh object of a document's JSON, by id (references are ``{"id": ...}`` only)."""
    if isinstance(node, dict):
        if node.get("type") == "object" and "id" in node:
            found[node["id"]] = node
        for value in node.values():
            _objects(value, found)
    elif isinstance(node, list):
        for value in node:
            _objects(value, found)
    return found


def _changed(model_id: str, attr: str, new) -> dict:
    return {"kind": "ModelChanged", "model": {"id": model_id}, "attr": attr, "new": new}


def _ref_id(value) -> str | None:
    return value.get("id") if isinstance(value, dict) else None


_TOKEN = re.compile(r'"token":\s*"([A-Za-z0-9_.\-]+)"')
ACTIONS = ("pan", "filter", "tap")


@dataclass
class Sample:
    """One user action: its kind, when it was sent (loop clock, s), its latency (s) or None on timeout."""

    action: str
    sent: float
    latency: float | None


@dataclass
class SessionLog:
    samples: list[Sample] = field(default_factory=list)
    connect_s: float | None = None
    error: str | None = None


class SimulatedSession:
    """One Explore tab: connect, then act until ``stop_at`` (loop clock), one action at a time."""

    def __init__(self, base: str, page: str = "explore", seed: int = 0, timeout: float = 20.0, think_s: float = 1.0):
        self.base, self.page, self.timeout, self.think_s = base.rstrip("/"), page, timeout, think_s
        self.rng = random.Random(seed)
        self.protocol = Protocol()
        self.log = SessionLog()
        self._ws = None
        self._receiver = Receiver(self.protocol)
        self._image_source_ids: set[str] = set()
        self._pending: asyncio.Future | None = None
        self._any_patch = False
        self._reader: asyncio.Task | None = None
        self.view: tuple[float, float, float, float] | None = None  # the sky's x/y ranges after the last pan
        self._last_filter: float | None = None

    # -- wire ----------------------------------------------------------------------
    async def _read(self):
        while True:
            fragment = await self._ws.read_message()
            if fragment is None:
                raise ConnectionError("the server closed the websocket")
            msg = await self._receiver.consume(fragment)
            if msg is not None:
                return msg

    async def _pump(self) -> None:
        """Read server messages forever; resolve the pending action when the sky image is patched."""
        try:
            while True:
                msg = await self._read()
                waiting = self._pending is not None and not self._pending.done()
                if waiting and msg.msgtype == "PATCH-DOC" and self._answers(msg.content):
                    self._pending.set_result(time.perf_counter())
        except (ConnectionError, asyncio.CancelledError):
            pass

    def _answers(self, content: dict) -> bool:
        """Whether a patch is the answer to the pending action: the new sky image (pan, filter); for
        a tap, anything but Panel's busy spinner starting (the source card, the marker, the message,
        or, for a tap that changes nothing, the spinner stopping)."""
        if not self._any_patch:
            return self._touches_image(content)
        events = content.get("events", [])
        return any(e.get("attr") != "css_classes" or "spin" not in (e.get("new") or []) for e in events)

    def _touches_image(self, content: dict) -> bool:
        for event in content.get("events", []):
            model = event.get("model") or event.get("column_source") or {}
            if isinstance(model, dict) and model.get("id") in self._image_source_ids:
                return True
        return False

    async def _send_events(self, events: list[dict]) -> None:
        await patch_doc(patch_doc.create_header(), {}, {"events": events}).send(self._ws)

    # -- session -------------------------------------------------------------------
    async def connect(self) -> None:
        t0 = time.perf_counter()
        http = AsyncHTTPClient()
        page = await http.fetch(HTTPRequest(f"{self.base}/{self.page}", request_timeout=self.timeout * 3))
        match = _TOKEN.search(page.body.decode("utf-8", "replace"))
        if match is None:
            raise RuntimeError(f"no session token in the HTML of /{self.page}")
        ws_url = self.base.replace("http", "ws", 1) + f"/{self.page}/ws"
        sock = await websocket_connect(
            HTTPRequest(ws_url, request_timeout=self.timeout * 3),
            subprotocols=["bokeh", match.group(1)],
            max_message_size=100 * 2**20,
        )
        self._ws = WebSocketClientConnectionWrapper(sock)
        ack = await self._read()
        if ack.msgtype != "ACK":
            raise RuntimeError(f"expected ACK, got {ack.msgtype}")
        await self.protocol.create("PULL-DOC-REQ").send(self._ws)
        reply = await self._read()
        while reply.msgtype != "PULL-DOC-REPLY":  # a patch may arrive before the document
            if reply.msgtype == "ERROR":
                raise RuntimeError(f"the server answered PULL-DOC-REQ with an error: {reply.content.get('text')}")
            reply = await self._read()
        self._find_models(_objects(reply.content["doc"], {}))
        # What BokehJS sends once the page is laid out: Panel runs its onload callbacks (and HoloViews
        # starts pushing plot updates) only after ``document_ready``; the plot size feeds PlotSize.
        ready = {"type": "event", "name": "document_ready", "values": {}}
        await self._send_events(
            [
                _changed(self.sky_id, "inner_width", 1000),
                _changed(self.sky_id, "inner_height", 500),
                {"kind": "MessageSent", "msg_type": "bokeh_event", "msg_data": ready},
            ]
        )
        self._reader = asyncio.create_task(self._pump())
        self.log.connect_s = time.perf_counter() - t0

    def _find_models(self, objects: dict[str, dict]) -> None:
        """The sky plot (the widest plot drawing an image), its ranges and image sources, and a slider to filter."""
        images = {
            oid: _ref_id(o["attributes"].get("data_source"))
            for oid, o in objects.items()
            if o.get("name") == "GlyphRenderer"
            and objects.get(_ref_id(o["attributes"].get("glyph")), {}).get("name") in ("Image", "ImageRGBA")
        }
        plots = []
        for o in objects.values():
            drawn = [images[_ref_id(r)] for r in o.get("attributes", {}).get("renderers", []) if _ref_id(r) in images]
            if o.get("name") in ("Figure", "Plot") and drawn:
                x = objects[_ref_id(o["attributes"]["x_range"])]["attributes"]
                plots.append((abs(x.get("end", 1.0) - x.get("start", 0.0)), o, drawn))
        if not plots:
            raise RuntimeError("no image plot in the Explore document: the sky view changed shape")
        _, sky, drawn = max(plots, key=lambda p: p[0])  # the all-sky view spans hundreds of projected degrees
        self._image_source_ids = set(drawn)
        self.sky_id = sky["id"]
        self.ranges = {}
        for axis in ("x_range", "y_range"):
            rng = objects[_ref_id(sky["attributes"][axis])]
            self.ranges[axis] = (rng["id"], rng["attributes"].get("start", -1.0), rng["attributes"].get("end", 1.0))
        sliders = [
            o
            for o in objects.values()
            if o.get("name") == "Slider" and "likelihood" in str(o["attributes"].get("title", "")).lower()
        ]
        self.slider = None
        if sliders:
            a = sliders[0]["attributes"]
            self.slider = (sliders[0]["id"], float(a.get("start", 0.0)), float(a.get("end", 100.0)))
            self._last_filter = a.get("value")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self._ws is not None:
            self._ws.close()

    # -- actions -------------------------------------------------------------------
    def _pan_events(self) -> list[dict]:
        (xid, xa, xb), (yid, ya, yb) = self.ranges["x_range"], self.ranges["y_range"]
        zoom = self.rng.uniform(0.15, 0.6)
        w, h = (xb - xa) * zoom, (yb - ya) * zoom
        cx = self.rng.uniform(xa + w / 2, xb - w / 2)
        cy = self.rng.uniform(ya + h / 2, yb - h / 2)
        x0, x1, y0, y1 = cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2
        self.view = (x0, x1, y0, y1)
        # What BokehJS sends at the end of a pan: the four range properties, then a RangesUpdate event.
        events = [
            _changed(xid, "start", x0),
            _changed(xid, "end", x1),
            _changed(yid, "start", y0),
            _changed(yid, "end", y1),
        ]
        return [*events, self._bokeh_event("rangesupdate", x0=x0, x1=x1, y0=y0, y1=y1)]

    def _filter_events(self) -> list[dict]:
        sid, lo, hi = self.slider
        value = self._last_filter
        while value == self._last_filter:  # the same value again changes nothing: no answer would come
            value = round(self.rng.uniform(lo, lo + (hi - lo) / 3), 1)
        self._last_filter = value
        return [_changed(sid, "value", value)]

    def _tap_events(self) -> list[dict]:
        # Inside the view the user is looking at (HoloViews drops taps outside the plot's ranges),
        # away from its edges; on the full sky, the middle half, inside the map's outline.
        if self.view is not None:
            x0, x1, y0, y1 = self.view
            x, y = (
                self.rng.uniform(0.9 * x0 + 0.1 * x1, 0.1 * x0 + 0.9 * x1),
                self.rng.uniform(0.9 * y0 + 0.1 * y1, 0.1 * y0 + 0.9 * y1),
            )
        else:
            (_, xa, xb), (_, ya, yb) = self.ranges["x_range"], self.ranges["y_range"]
            x, y = self.rng.uniform(xa, xb) * 0.5, self.rng.uniform(ya, yb) * 0.5
        return [self._bokeh_event("tap", x=x, y=y, sx=100.0, sy=100.0)]

    def _bokeh_event(self, name: str, **values) -> dict:
        data = {"type": "event", "name": name, "values": {"model": {"id": self.sky_id}, **values}}
        return {"kind": "MessageSent", "msg_type": "bokeh_event", "msg_data": data}

    async def act(self, action: str) -> Sample:
        """Send one action; wait for the sky image patch (pan, filter) or the tap's first visible change."""
        events = {"pan": self._pan_events, "filter": self._filter_events, "tap": self._tap_events}[action]()
        loop = asyncio.get_running_loop()
        self._pending = loop.create_future()
        self._any_patch = action == "tap"  # a tap answers with a card, marker or message, not a new image
        sent = time.perf_counter()
        await self._send_events(events)
        try:
            done = await asyncio.wait_for(asyncio.shield(self._pending), self.timeout)
            latency = done - sent
        except TimeoutError:
            latency = None
        return Sample(action, sent, latency)

    async def run(
        self,
        duration_s: float,
        actions: tuple[str, ...] = ("pan", "pan", "filter", "tap"),
        connected: asyncio.Event | None = None,
        start: asyncio.Event | None = None,
    ) -> SessionLog:
        """Connect, then act for ``duration_s`` seconds.

        Without ``start`` the clock starts at this session's connection; with it, the session
        sets ``connected`` once open (or failed) and waits for ``start``, so that every session
        acts at the same time.
        """
        try:
            try:
                await self.connect()
            finally:
                if connected is not None:
                    connected.set()
            if start is not None:
                await start.wait()
            stop_at = time.perf_counter() + duration_s
            usable = [a for a in actions if a != "filter" or self.slider is not None]
            while time.perf_counter() < stop_at:
                self.log.samples.append(await self.act(self.rng.choice(usable)))
                await asyncio.sleep(self.think_s * self.rng.uniform(0.5, 1.5))
        except Exception as exc:  # reported per session, counted as an error by the caller
            self.log.error = f"{type(exc).__name__}: {exc}"
        finally:
            await self.close()
        return self.log


def as_json(logs: list[SessionLog]) -> str:
    """The raw samples of a run, for keeping alongside the printed summary."""
    return json.dumps(
        [
            {"connect_s": s.connect_s, "error": s.error, "samples": [(x.action, x.latency) for x in s.samples]}
            for s in logs
        ]
    )
