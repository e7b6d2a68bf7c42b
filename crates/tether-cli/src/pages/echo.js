// The echo page: what it sends comes back from the server.
function setConnected(connected) {
  $("send").disabled = !connected;
  $("file").disabled = !connected;
  $("reconnect").hidden = connected;
}

function connect() {
  const url = base + "/";
  const onOpen = (ws) => setState("open: " + url + (ws.extensions ? " (" + ws.extensions + ")" : ""), "open");
  openSocket(url, onOpen, (event) => {
    if (typeof event.data === "string") line("echo: " + event.data, "echo");
    else showBinary(event.data, "echo: ");
  });
}

$("send-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = sendTyped((t) => t);
  if (text !== null) line("you: " + text, "sent");
});

$("file").addEventListener("change", async () => {
  const sent = await sendChosenFile();
  if (sent) line("you: <binary " + sent.buffer.byteLength + " bytes> " + sent.name, "sent");
});

// The server's /image endpoint sends one generated PNG as a binary message.
$("image").addEventListener("click", () => {
  const url = base + "/image";
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  ws.onmessage = (event) => {
    if (typeof event.data === "string") line("image: " + event.data, "echo");
    else showBinary(event.data, "image: ");
    ws.close(1000);
  };
  ws.onclose = (event) => {
    if (!event.wasClean) line("Network error: cannot get " + url, "error");
  };
});

$("reconnect").addEventListener("click", connect);
connect();
