// WebSocket: each frame is an event; a closed socket is opened again after a pause.
"use strict";

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/${encodeURIComponent(channel)}`);
  socket.onopen = () => setStatus("connected");
  socket.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (data.error) setStatus(`error: ${data.error}`);
    else show(data);
  };
  socket.onclose = () => {
    setStatus("reconnecting");
    setTimeout(connect, 2000);
  };
}

connect();
