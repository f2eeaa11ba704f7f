"""A file input that checks the file's size in the browser, before anything is sent.

Panel's ``FileInput`` sends the whole file, base64-encoded, in one websocket message; past
Bokeh's message limit (20 MB) the server closes the page's connection and the page silently
stops working. :class:`SizedFileInput` reads the size first: a file over :data:`MAX_UPLOAD_BYTES`
is never sent, and ``error`` holds one sentence to show instead. Same Python side as
``FileInput`` for one file: ``value`` (bytes) and ``filename``.
"""

from __future__ import annotations

import base64

import param
from panel.custom import JSComponent

#: Largest upload accepted, bytes: base64 makes it ~13.4 MB on the websocket, under Bokeh's 20 MB.
MAX_UPLOAD_BYTES = 10_000_000


def too_big_sentence(name: str, size: int, limit: int = MAX_UPLOAD_BYTES) -> str:
    return f"'{name}' is {size / 1e6:.1f} MB; files of at most {limit / 1e6:g} MB can be uploaded."


class SizedFileInput(JSComponent):
    """One-file upload with a size limit checked in the browser (see the module)."""

    accept = param.String(default="", doc="File name endings offered by the browser's dialog.")
    max_bytes = param.Integer(default=MAX_UPLOAD_BYTES, doc="Largest file sent to the server.")
    filename = param.String(default=None, allow_None=True, doc="Name of the uploaded file.")
    error = param.String(default="", doc="One sentence when the chosen file was not sent (too big).")
    content_b64 = param.String(default="", doc="The file, base64, as sent by the browser.")
    value = param.Bytes(default=None, allow_None=True, doc="The uploaded file's content.")

    _rename = {"value": None}  # Panel's class-level mapping

    _esm = """
    export function render({ model }) {
      const input = document.createElement("input")
      input.type = "file"
      input.accept = model.accept
      input.className = "xmm-sized-file-input"
      input.addEventListener("change", async () => {
        const file = input.files && input.files[0]
        if (!file) { return }
        if (file.size > model.max_bytes) {
          const mb = (file.size / 1e6).toFixed(1)
          model.error = `'${file.name}' is ${mb} MB; files of at most ${model.max_bytes / 1e6} MB can be uploaded.`
          input.value = ""
          return
        }
        const bytes = new Uint8Array(await file.arrayBuffer())
        let text = ""
        for (let i = 0; i < bytes.length; i += 0x8000) {
          text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000))
        }
        model.error = ""
        model.filename = file.name
        model.content_b64 = btoa(text)
      })
      return input
    }
    """

    @param.depends("content_b64", watch=True)
    def _decode(self) -> None:
        raw = base64.b64decode(self.content_b64) if self.content_b64 else b""
        if len(raw) > self.max_bytes:  # a client that skipped the check above
            self.error = too_big_sentence(self.filename or "the file", len(raw), self.max_bytes)
            return
        self.value = raw
