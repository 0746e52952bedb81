// Socket.IO over its WebSocket transport, in a few lines so that the page needs no build
// step and nothing from the internet. Engine.IO packets start with a digit ("0" open,
// "2" ping, "3" pong, "4" message); a message's next digit is Socket.IO's ("0" connect,
// "2" event). Your own front end would use the socket.io-client package instead.
"use strict";

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/socket.io/?EIO=4&transport=websocket`);
  socket.onmessage = (message) => {
    const packet = message.data;
    if (packet.startsWith("0")) {
      socket.send("40"); // open: join the default namespace
    } else if (packet === "2") {
      socket.send("3"); // ping: pong
    } else if (packet.startsWith("40")) {
      setStatus("connected"); // joined: subscribe to the channel's room
      socket.send(`42${JSON.stringify(["subscribe", channel])}`);
    } else if (packet.startsWith("42")) {
      const [name, data] = JSON.parse(packet.slice(2));
      if (name === "message") show(data);
    }
  };
  socket.onclose = () => {
    setStatus("reconnecting");
    setTimeout(connect, 2000);
  };
}

connect();
