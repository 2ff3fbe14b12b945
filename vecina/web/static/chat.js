/* Vecina web chat: Rasa's socket.io channel, buttons as buttons, a language toggle.
   All visible texts come from window.VECINA_CONFIG.texts (kb/webchat.yml). Citizen and bot
   texts are inserted as text nodes, never as HTML. The session id is issued and signed by the
   page server (POST session) and kept in localStorage; when the Rasa server refuses it (the
   secret changed) the widget asks for a new one, once per page load. No metadata is sent. */
(function () {
  "use strict";
  var config = window.VECINA_CONFIG;
  var storageKey = "vecina-session";
  var messages = document.getElementById("messages");
  var statusLine = document.getElementById("status");
  var form = document.getElementById("composer");
  var input = document.getElementById("message");
  var language = initialLanguage();
  var sessionId = null;
  var renewed = false;

  function initialLanguage() {
    var asked = new URLSearchParams(window.location.search).get("lang");
    if (config.languages.indexOf(asked) >= 0) { return asked; }
    var stored = window.localStorage.getItem("vecina-language");
    if (config.languages.indexOf(stored) >= 0) { return stored; }
    return (navigator.language || "es").toLowerCase().indexOf("ca") === 0 ? config.catalanVariety : "es";
  }

  function text(key) { return (config.texts[key] || {})[language] || ""; }

  function applyTexts() {
    document.documentElement.lang = language === "va" ? "ca-valencia" : language;
    document.title = text("title");
    document.getElementById("chat-title").textContent = text("title");
    document.getElementById("chat-intro").textContent = text("intro");
    document.getElementById("input-label").textContent = text("input_label");
    document.getElementById("language-label").textContent = text("language_label");
    document.getElementById("send").textContent = text("send");
    input.placeholder = text("input_label");
    Array.prototype.forEach.call(document.querySelectorAll(".chat__language"), function (button) {
      button.setAttribute("aria-pressed", String(button.dataset.language === language));
    });
  }

  function addMessage(who, body, buttons) {
    var item = document.createElement("li");
    item.className = "message message--" + who;
    var label = document.createElement("span");
    label.className = "message__who visually-hidden";
    label.textContent = text(who === "bot" ? "assistant" : "you") + ": ";
    item.appendChild(label);
    item.appendChild(document.createTextNode(body || ""));
    if (buttons && buttons.length) {
      var group = document.createElement("div");
      group.className = "message__buttons";
      buttons.forEach(function (button) {
        var element = document.createElement("button");
        element.type = "button";
        element.className = "message__button";
        element.textContent = button.title;
        element.addEventListener("click", function () { send(button.payload, button.title); });
        group.appendChild(element);
      });
      item.appendChild(group);
    }
    messages.appendChild(item);
    document.querySelector(".chat").classList.add("chat--started");
    item.scrollIntoView({ block: "end" });
    return item;
  }

  var socket = io(config.socketUrl, { transports: ["websocket", "polling"], reconnectionAttempts: 20 });
  statusLine.textContent = text("connecting");

  function newSession() {
    return window.fetch("session", { method: "POST", credentials: "omit", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
      .then(function (body) {
        window.localStorage.setItem(storageKey, body.session_id);
        return body.session_id;
      });
  }

  function requestSession() {
    var stored = window.localStorage.getItem(storageKey);
    (stored ? Promise.resolve(stored) : newSession())
      .then(function (id) { socket.emit("session_request", { session_id: id }); })
      .catch(function () { statusLine.textContent = text("offline"); });
  }

  socket.on("connect", requestSession);
  socket.on("session_confirm", function (confirmed) {
    sessionId = typeof confirmed === "string" ? confirmed : confirmed.session_id;
    window.localStorage.setItem(storageKey, sessionId);
    statusLine.textContent = "";
  });
  socket.on("bot_uttered", function (message) {
    var buttons = message.quick_replies || message.buttons || [];
    addMessage("bot", message.text, buttons);
  });
  socket.on("connect_error", function () { statusLine.textContent = text("offline"); });
  socket.on("disconnect", function (reason) {
    statusLine.textContent = text("offline");
    if (reason === "io server disconnect" && !renewed) {  // the server refused our session id
      renewed = true;
      sessionId = null;
      window.localStorage.removeItem(storageKey);
      socket.connect();
    }
  });

  function send(payload, shown) {
    if (!payload || !sessionId) { return; }
    addMessage("user", shown || payload);
    socket.emit("user_uttered", { message: payload, session_id: sessionId });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var value = input.value.trim();
    if (!value) { return; }
    send(value);
    input.value = "";
    input.focus();
  });

  Array.prototype.forEach.call(document.querySelectorAll(".chat__language"), function (button) {
    button.addEventListener("click", function () {
      language = button.dataset.language;
      window.localStorage.setItem("vecina-language", language);
      applyTexts();
      send('/change_language{"language":"' + language + '"}', button.textContent);
    });
  });

  applyTexts();
  input.focus();
}());
