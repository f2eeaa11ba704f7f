// A small SAMP Web Profile client (XML-RPC over HTTP to the user's own hub) as a Panel JSComponent module.
//
// Python sets `request` = {id, mtype, params}; this module pings the hub at `hub_url`
// (the standard http://localhost:21012/), registers (the hub asks the user to accept),
// sends the message to every subscribed client with samp.webhub.notifyAll, unregisters,
// and reports one sentence in `status` (and in its own element). Relative URLs in the
// params are resolved against the page's URL, so a table link works behind a proxy prefix.

const APP_NAME = "XMM Explorer";

function escapeXml(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function encode(value) {
  if (Array.isArray(value)) {
    return `<value><array><data>${value.map(encode).join("")}</data></array></value>`;
  }
  if (value !== null && typeof value === "object") {
    const members = Object.entries(value)
      .map(([k, v]) => `<member><name>${escapeXml(k)}</name>${encode(v)}</member>`).join("");
    return `<value><struct>${members}</struct></value>`;
  }
  return `<value><string>${escapeXml(value)}</string></value>`;  // SAMP values are strings
}

function decode(node) {
  const el = node.firstElementChild;
  if (el === null) return node.textContent;
  switch (el.tagName) {
    case "struct": {
      const out = {};
      for (const m of el.children) {
        out[m.getElementsByTagName("name")[0].textContent] = decode(m.getElementsByTagName("value")[0]);
      }
      return out;
    }
    case "array":
      return Array.from(el.firstElementChild ? el.firstElementChild.children : []).map(decode);
    case "int": case "i4": case "double":
      return Number(el.textContent);
    case "boolean":
      return el.textContent.trim() === "1";
    default:
      return el.textContent;
  }
}

export class SampError extends Error {
  constructor(kind, message) { super(message); this.kind = kind; }
}

export async function xmlrpc(hubUrl, method, params, timeoutMs = 5000) {
  const body = `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>` +
    params.map((p) => `<param>${encode(p)}</param>`).join("") + "</params></methodCall>";
  let response;
  try {
    response = await fetch(hubUrl, {
      method: "POST", body, headers: {"Content-Type": "text/xml"}, signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new SampError(err.name === "TimeoutError" ? "timeout" : "nohub", String(err));
  }
  if (!response.ok) throw new SampError("http", `HTTP ${response.status}`);
  const doc = new DOMParser().parseFromString(await response.text(), "text/xml");
  const fault = doc.querySelector("methodResponse > fault > value");
  if (fault) {
    const f = decode(fault);
    throw new SampError("fault", f.faultString || "SAMP hub fault");
  }
  const value = doc.querySelector("methodResponse > params > param > value");
  return value ? decode(value) : null;
}

function absolute(params) {
  const out = {...params};
  for (const key of ["url"]) {
    if (out[key]) out[key] = new URL(out[key], window.location.href).href;
  }
  return out;
}

// Register, send one message to every client subscribed to its mtype, unregister.
export async function sendToAll(hubUrl, mtype, params) {
  try {
    await xmlrpc(hubUrl, "samp.webhub.ping", [], 3000);
  } catch (err) {
    if (err.kind === "nohub" || err.kind === "timeout" || err.kind === "http") {
      throw new SampError("nohub", "No SAMP hub found on this computer: start TOPCAT or Aladin first.");
    }
    throw err;
  }
  let reg;
  try {
    // The hub shows the user a dialog: give them time to answer it.
    reg = await xmlrpc(hubUrl, "samp.webhub.register", [{"samp.name": APP_NAME}], 120000);
  } catch (err) {
    throw new SampError("refused", "The SAMP hub did not accept XMM Explorer; allow it in the hub's dialog and send again.");
  }
  const key = reg["samp.private-key"];
  try {
    await xmlrpc(hubUrl, "samp.webhub.declareMetadata", [key, {
      "samp.name": APP_NAME, "samp.description.text": "XMM-Newton serendipitous source catalogue explorer",
    }]);
    const subscribed = await xmlrpc(hubUrl, "samp.webhub.getSubscribedClients", [key, mtype]);
    const names = Object.keys(subscribed || {});
    if (names.length === 0) {
      throw new SampError("nobody", `No application on the SAMP hub accepts ${mtype}; start TOPCAT, Aladin or DS9.`);
    }
    await xmlrpc(hubUrl, "samp.webhub.notifyAll", [key, {"samp.mtype": mtype, "samp.params": absolute(params)}]);
    return names.length;
  } finally {
    try { await xmlrpc(hubUrl, "samp.webhub.unregister", [key]); } catch (err) { /* the hub may be gone */ }
  }
}

export function render({model, el}) {
  const line = document.createElement("div");
  line.className = "xmm-samp-status";
  line.textContent = model.status;
  el.appendChild(line);
  model.on("status", () => { line.textContent = model.status; });
  model.on("request", async () => {
    const req = model.request;
    if (!req || !req.mtype) return;
    model.status = "Contacting the SAMP hub…";
    try {
      const n = await sendToAll(model.hub_url, req.mtype, req.params || {});
      model.status = `${req.label || "Sent"} to ${n} application${n === 1 ? "" : "s"} over SAMP.`;
    } catch (err) {
      model.status = err instanceof SampError && err.kind !== "fault" && err.kind !== "http"
        ? err.message : `SAMP failed: ${err.message}.`;
    }
    model.sent = (model.sent || 0) + 1;
  });
}
