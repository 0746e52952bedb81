// What the page does whatever the way to push: the channel, the events shown, a notify sent.
"use strict";

const channel = new URLSearchParams(location.search).get("channel") || "news";
const events = document.getElementById("events");
document.getElementById("channel").textContent = channel;

function setStatus(text) {
  document.getElementById("status").textContent = text;
}

// An event as a line of the list: as text, so that a message is shown, never run.
function show(event) {
  const item = document.createElement("li");
  item.dataset.id = event.id;
  item.textContent = JSON.stringify(event.message);
  events.prepend(item);
}

// The form notifies the channel: every page open on it, in any process, shows the text.
document.getElementById("send").addEventListener("submit", async (submitted) => {
  submitted.preventDefault();
  const input = document.getElementById("text");
  const answer = await fetch(`/notify/${encodeURIComponent(channel)}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ text: input.value }),
  });
  if (answer.ok) input.value = "";
  else setStatus(`notify failed: ${(await answer.json()).error}`);
});
