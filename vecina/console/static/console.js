// Light progressive enhancement: live updates by polling, replies without reloading, canned
// replies into the box. Everything citizens wrote is inserted with textContent, never as HTML.
(function () {
  "use strict";
  const csrf = document.body.dataset.csrf;
  const every = (Number(document.body.dataset.poll) || 3) * 1000;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  async function getJson(url) {
    const response = await fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"});
    if (response.status === 401) { window.location.reload(); throw new Error("signed out"); }
    return response.json();
  }

  function when(iso) {
    const at = new Date(iso);
    const pad = (n) => String(n).padStart(2, "0");
    return `${pad(at.getUTCDate())}/${pad(at.getUTCMonth() + 1)} ${pad(at.getUTCHours())}:${pad(at.getUTCMinutes())} UTC`;
  }

  function turn(item) {
    const li = el("li", `turn ${item.speaker} ${item.kind}`);
    li.dataset.cursor = item.cursor;
    const who = item.speaker === "citizen" ? "Persona" : item.speaker === "staff" ? (item.staff_name || "Personal") : "Asistente";
    li.append(el("span", "who", who), el("time", "", when(item.at)));
    if (item.kind === "choice") li.append(el("span", "tag", "Botón pulsado"));
    if (item.kind === "location" && item.latitude !== null) {
      li.append(el("span", "tag", "Ubicación"));
      const link = el("a", "", `${item.latitude.toFixed(5)}, ${item.longitude.toFixed(5)}`);
      link.href = `https://www.openstreetmap.org/?mlat=${item.latitude.toFixed(6)}&mlon=${item.longitude.toFixed(6)}`;
      link.target = "_blank"; link.rel = "noopener noreferrer";
      li.append(link);
    }
    if (item.kind === "media" && item.media_url) {
      li.append(el("span", "tag", `Archivo (${item.media_kind})`));
      const link = el("a", "", "Abrir");
      link.href = item.media_url; link.target = "_blank"; link.rel = "noopener noreferrer";
      li.append(link);
    }
    if (item.kind === "media_refused") li.append(el("span", "tag", `Archivo rechazado (${item.rejected || ""})`));
    if (item.text) li.append(el("p", "text", item.text));
    if (item.options && item.options.length) {
      const list = el("ul", "options");
      item.options.forEach((option) => list.append(el("li", "", option)));
      li.append(list);
    }
    return li;
  }

  function note(entry) {
    const li = el("li", `note ${entry.kind} ${entry.delivery || ""}`);
    li.dataset.note = entry.id;
    li.append(el("span", "who", entry.author), el("time", "", when(entry.at)),
              el("span", "tag", entry.kind === "note" ? "Nota interna" : "No entregada"), el("p", "text", entry.text));
    return li;
  }

  function feedback(text) {
    const box = document.getElementById("feedback");
    if (!box) return;
    box.textContent = text;
    box.hidden = !text;
  }

  function watchTicket(section) {
    const transcript = document.getElementById("transcript");
    const notes = document.getElementById("notes");
    const status = document.getElementById("status");
    async function refresh() {
      const url = `${section.dataset.updates}?after=${section.dataset.cursor}&notes_after=${section.dataset.notesCursor}`;
      const data = await getJson(url);
      data.items.forEach((item) => {
        transcript.append(turn(item));
        section.dataset.cursor = item.cursor;
      });
      data.notes.forEach((entry) => {
        notes.append(note(entry));
        section.dataset.notesCursor = entry.id;
      });
      status.textContent = data.status + (data.claimed_by ? ` · ${data.claimed_by}` : "");
    }
    setInterval(() => refresh().catch(() => {}), every);

    const form = document.getElementById("reply-form");
    if (form) {
      const text = form.querySelector("textarea");
      form.querySelectorAll(".canned-reply").forEach((button) => {
        button.addEventListener("click", () => { text.value = button.dataset.text; text.focus(); });
      });
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const send = form.querySelector("button[type=submit]");
        if (send.disabled) return;
        send.disabled = true;
        try {
          const response = await fetch(form.action, {
            method: "POST", body: new FormData(form), credentials: "same-origin",
            headers: {"Accept": "application/json", "X-CSRF-Token": csrf},
          });
          const data = await response.json();
          feedback(data.message || "");
          if (response.ok && data.delivery === "sent") {
            text.value = "";
            form.querySelector("input[name=client_key]").value = data.client_key;
          }
          await refresh();
        } catch (error) {
          feedback("No se ha podido enviar. Compruebe la conexión e inténtelo de nuevo.");
        } finally {
          send.disabled = false;
        }
      });
    }
  }

  function watchInbox(table) {
    const body = table.querySelector("tbody");
    async function refresh() {
      const data = await getJson(table.dataset.live);
      body.replaceChildren();
      if (!data.tickets.length) {
        const row = el("tr", "empty");
        const cell = el("td", "", "No hay conversaciones pendientes.");
        cell.colSpan = 8;
        row.append(cell);
        body.append(row);
      }
      data.tickets.forEach((ticket) => {
        const row = el("tr", `priority-${ticket.priority}`);
        row.dataset.ticket = ticket.id;
        [ticket.priority, ticket.age, ticket.reason, ticket.team, ticket.channel, ticket.language,
         ticket.status + (ticket.claimed_by ? ` · ${ticket.claimed_by}` : "")].forEach((value) => row.append(el("td", "", value)));
        const cell = el("td");
        const link = el("a", "", "Abrir");
        link.href = ticket.url;
        cell.append(link);
        row.append(cell);
        body.append(row);
      });
    }
    setInterval(() => refresh().catch(() => {}), every);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const section = document.getElementById("ticket");
    if (section) watchTicket(section);
    const table = document.querySelector("table[data-live]");
    if (table) watchInbox(table);
  });
})();
