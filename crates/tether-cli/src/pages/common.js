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

