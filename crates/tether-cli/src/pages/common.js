// The page talks to the server that served it, on the same host and port.
const base = (location.protocol === "https:" ? "wss://" : "ws://") + location.host;
const $ = (id) => document.getElementById(id);
const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
let socket = null;

function line(text, kind) {
  const entry = document.createElement("div");
  entry.className = "line " + kind;
  entry.textContent = text;
  $("log").append(entry);
  $("log").scrollTop = $("log").scrollHeight;
  return entry;
}

function setState(text, kind) {
  $("state").textContent = text;
  $("state").className = kind;
}

// With binaryType "arraybuffer" a binary frame arrives as an ArrayBuffer and
// a text frame as a string: the frame's opcode decides, not the content.
function showBinary(buffer, prefix) {
  const bytes = new Uint8Array(buffer);
  const entry = line(prefix + "<binary " + bytes.length + " bytes>", "binary");
  if (PNG_MAGIC.every((b, i) => bytes[i] === b)) {
    const picture = new Image();
    picture.className = "picture";
    picture.alt = "PNG received as a binary message";
    picture.src = URL.createObjectURL(new Blob([buffer], { type: "image/png" }));
    entry.append(picture);
  }
}


// Opens `url` as the page's socket: `onOpen(ws)` once open, `onMessage(event)`
// for each message; says how it ended in the state line (and the log when
// the network failed). `setConnected` is the page's own.
function openSocket(url, onOpen, onMessage) {
  setState("connecting to " + url + " …", "connecting");
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  socket = ws;
  let opened = false;
  ws.onopen = () => {
    opened = true;
    onOpen(ws);
    setConnected(true);
  };
  ws.onmessage = onMessage;
  ws.onclose = (event) => {
    if (ws !== socket) return;
    setConnected(false);
    if (event.wasClean) {
      setState("closed: " + event.code + (event.reason ? " " + event.reason : ""), "closed");
      return;
    }
    const cause = opened ? "connection to " + url + " lost" : "cannot connect to " + url;
    setState("Network error: " + cause + " (code " + event.code + ")", "error");
    line("Network error: " + cause, "error");
  };
}

// Sends the message field's text (as `shape` makes it) and empties the
// field; returns the text typed, or null when not connected.
function sendTyped(shape) {
  const text = $("message").value;
  if (!socket || socket.readyState !== WebSocket.OPEN) return null;
  socket.send(shape(text));
  $("message").value = "";
  $("message").focus();
  return text;
}

// Sends the file chosen in the file field as one binary message; returns
// its bytes and name, or null when there is none or not connected.
async function sendChosenFile() {
  const file = $("file").files[0];
  if (!file || !socket || socket.readyState !== WebSocket.OPEN) return null;
  const buffer = await file.arrayBuffer();
  socket.send(buffer);
  $("file").value = "";
  return { buffer, name: file.name };
}
