// The public API and the live stream, with the token the user signed in with. The token goes in
// the Authorization header, and to the stream as its first message, never in a URL (URLs end
// up in logs).
export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error : `HTTP ${status}`);
    this.status = status;
    this.field = body ? body.field : null;
  }
}

export function createApi(token) {
  async function request(method, path, { body, query } = {}) {
    const url = new URL(`/api/v1${path}`, location.origin);
    for (const [key, value] of Object.entries(query || {})) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
    }
    const headers = { Authorization: `Bearer ${token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 204) return null;
    const data = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }
  return {
    token,
    get: (path, query) => request("GET", path, { query }),
    post: (path, body) => request("POST", path, { body: body ?? {} }),
    del: (path) => request("DELETE", path),
    // Every item of a paged list (`{"items", "next"}`), 1,000 a page unless `query.limit` says.
    async all(path, query = {}) {
      const items = [];
      let cursor = null;
      do {
        const page = await request("GET", path, { query: { limit: 1000, ...query, cursor } });
        items.push(...page.items);
        cursor = page.next;
      } while (cursor);
      return items;
    },
  };
}

// The stream, reconnecting with backoff. `onState("open")` after every (re)connection tells
// modules to re-read what they show, since messages sent while away are not replayed.
export function openStream(token, onMessage, onState) {
  let socket = null;
  let delay = 500;
  let stopped = false;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${scheme}//${location.host}/api/v1/stream`);
    onState("connecting");
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ token }));
      delay = 500;
      onState("open");
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      onMessage(message);
    });
    socket.addEventListener("close", (event) => {
      if (stopped) return;
      if (event.code === 4401) {
        onState("unauthorized");
        return;
      }
      onState("lost");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    });
  }
  connect();
  return {
    close() {
      stopped = true;
      if (socket) socket.close();
    },
  };
}
