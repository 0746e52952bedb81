// Server-Sent Events: EventSource reconnects by itself and resumes after the last id it saw.
"use strict";

const source = new EventSource(`/events/${encodeURIComponent(channel)}`);
source.onopen = () => setStatus("connected");
source.onerror = () => setStatus("reconnecting");
source.onmessage = (message) => show(JSON.parse(message.data));
