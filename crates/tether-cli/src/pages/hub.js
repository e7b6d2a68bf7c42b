// Every member's messages arrive from the room, ours included, in the
// room's one order: nothing is shown on send, only what the room delivers.
let room = "";

function setConnected(connected) {
  $("send").disabled = !connected;
  $("file").disabled = !connected;
}

// The member count, over plain HTTP: GET /rooms/NAME/info answers JSON.
async function pollMembers() {
  if (!room) return;
  try {
    const reply = await fetch("/rooms/" + encodeURIComponent(room) + "/info", { cache: "no-store" });
    if (reply.ok) $("members").textContent = String((await reply.json()).members);
  } catch (_) {
    // The server is gone: the socket's close says so.
  }
}

function join(name) {
  if (socket) {
    const old = socket;
    socket = null;
    old.close(1000, "changing room");
  }
  room = name;
  $("log").replaceChildren();
  const url = base + "/rooms/" + encodeURIComponent(room);
  const onOpen = () => {
    setState("in room " + room + ": " + url, "open");
    pollMembers();
  };
  openSocket(url, onOpen, (event) => {
    if (typeof event.data === "string") line(event.data, "message");
    else showBinary(event.data, "");
  });
}

$("room-form").addEventListener("submit", (event) => {
  event.preventDefault();
  join($("room").value);
});

// The name goes in front of the text: raw members see payloads only.
$("send-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = $("name").value.trim();
  sendTyped((text) => (name ? name + ": " + text : text));
});

$("file").addEventListener("change", sendChosenFile);

$("name").value = "guest-" + Math.floor(Math.random() * 1000);
setInterval(pollMembers, 2000);
join($("room").value);
