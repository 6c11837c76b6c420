// The day page: live checking while typing (a short pause, then POST /studio/api/preview: nothing is saved),
// findings beside their fields, the preview in sandboxed iframes, and saving with PUT + If-Match.
// Every message is put in with textContent: nothing from the server or the files is parsed as HTML here.
function studioRequest(method, url, body, csrf, extraHeaders) {
  "use strict";
  var headers = { "Content-Type": "application/json", "X-CSRF-Token": csrf };
  Object.keys(extraHeaders || {}).forEach(function (k) { headers[k] = extraHeaders[k]; });
  return fetch(url, { method: method, headers: headers, body: JSON.stringify(body), credentials: "same-origin" })
    .then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        return { status: response.status, json: json, etag: response.headers.get("ETag") };
      });
    });
}

function showMoves(list, moves) {
  "use strict";
  list.replaceChildren();
  if (!moves || moves.length === 0) {
    var none = document.createElement("li");
    none.textContent = "None.";
    list.appendChild(none);
    return;
  }
  moves.forEach(function (move) {
    var item = document.createElement("li");
    var words = move.words_before === null ? move.words + " words" : move.words_before + " → " + move.words + " words";
    item.textContent = (move.label || move.date) + ": now starts “" + move.now + "”" + (move.was ? " (was “" + move.was + "”)" : "") + ", " + words;
    list.appendChild(item);
  });
}

(function () {
  "use strict";
  var form = document.getElementById("day-form");
  if (!form) { return; }
  var DEBOUNCE_MS = 300;
  var FIELDS = ["subject", "preheader", "note", "pin"];
  var ELEMENTS = { subject: "subject", preheader: "preheader", note: "note", pin: "pins" };
  var moves = document.getElementById("moves");
  var day = form.dataset.day;
  var csrf = form.dataset.csrf;
  var etag = form.dataset.etag;
  var readOnly = form.dataset.readOnly === "true";
  var status = document.getElementById("status");
  var textPart = document.getElementById("text-part");
  var frames = Array.prototype.slice.call(document.querySelectorAll(".frames iframe"));
  var country = document.getElementById("country");
  var timer = null;
  var sequence = 0;

  function say(message) { status.textContent = message; }

  function values() {
    var out = {};
    ["subject", "preheader", "note"].forEach(function (name) { out[name] = form.elements[name].value; });
    out.pins = form.elements.pins.value.split("\n").map(function (line) { return line.trim(); })
      .filter(function (line) { return line.length > 0; });
    return out;
  }

  function scheme() {
    var checked = document.querySelector("input[name=scheme]:checked");
    return checked ? checked.value : "light";
  }

  function showFindings(findings) {
    var lists = {};
    FIELDS.concat(["other"]).forEach(function (name) {
      lists[name] = document.getElementById("findings-" + name);
      lists[name].replaceChildren();
    });
    (findings || []).forEach(function (finding) {
      var list = lists[finding.field] || lists.other;
      var item = document.createElement("li");
      item.className = finding.level === "error" ? "error" : "warning";
      item.textContent = finding.message;
      list.appendChild(item);
    });
    FIELDS.forEach(function (name) {
      var hasError = (findings || []).some(function (f) { return f.field === name && f.level === "error"; });
      form.elements[ELEMENTS[name]].setAttribute("aria-invalid", hasError ? "true" : "false");
    });
  }

  function request(method, url, body, extraHeaders) {
    return studioRequest(method, url, body, csrf, extraHeaders);
  }

  function preview() {
    var mine = ++sequence;
    say("Checking…");
    var body = values();
    body.date = day;
    body.country = country.value;
    body.dark = scheme() === "dark";
    request("POST", "/studio/api/preview", body).then(function (answer) {
      if (mine !== sequence) { return; }
      if (answer.status === 401) { say("Your session ended: sign in again."); return; }
      if (answer.status !== 200) { say("Could not check: " + (answer.json.error || answer.status)); return; }
      showFindings(answer.json.findings);
      if (answer.json.frame) { frames.forEach(function (f) { f.src = answer.json.frame; }); }
      textPart.textContent = answer.json.text || "";
      showMoves(moves, answer.json.moves);
      if (answer.json.read_only) { say("As it went out."); }
      else if (answer.json.ok) { say("Checked: nothing blocks saving (not saved yet)."); }
      else { say("Checked: fix the errors before saving (not saved; the preview shows the last version that passed)."); }
    }).catch(function () { if (mine === sequence) { say("Could not reach the studio."); } });
  }

  function schedule() {
    window.clearTimeout(timer);
    timer = window.setTimeout(preview, DEBOUNCE_MS);
  }

  function save(event) {
    event.preventDefault();
    if (readOnly) { return; }
    window.clearTimeout(timer);
    say("Saving…");
    request("PUT", "/studio/api/days/" + day, values(), { "If-Match": etag }).then(function (answer) {
      var conflict = document.getElementById("conflict");
      conflict.hidden = true;
      if (answer.status === 200) {
        if (answer.json.etag) { etag = answer.json.etag; form.elements.etag.value = etag; }
        say(answer.json.unchanged ? "Nothing to save: no change." : "Saved (revision " + answer.json.revision + ").");
      } else if (answer.status === 202) {
        say("Held for approval: a second person (approver or admin) must approve it before it takes effect.");
      } else if (answer.status === 409 && answer.json.conflict) {
        document.getElementById("conflict-text").textContent = answer.json.current;
        conflict.hidden = false;
        say("Not saved: schedule.yaml changed on disk since you opened this page.");
      } else if (answer.status === 409) {
        say("Not saved: " + (answer.json.error || "conflict"));
      } else if (answer.status === 422) {
        var problems = (answer.json.problems || []).map(function (p) {
          return { field: p.field, level: "error", message: p.message };
        });
        showFindings(problems);
        say("Not saved: fix the errors shown beside the fields.");
      } else if (answer.status === 401) {
        say("Not saved: your session ended. Sign in again (your text is still here).");
      } else {
        say("Not saved: " + (answer.json.error || answer.status));
      }
    }).catch(function () { say("Not saved: could not reach the studio."); });
  }

  form.addEventListener("input", schedule);
  form.addEventListener("submit", save);
  country.addEventListener("change", preview);
  Array.prototype.forEach.call(document.querySelectorAll("input[name=scheme]"), function (radio) {
    radio.addEventListener("change", preview);
  });
  preview();
}());

// The article page: check while typing (which days' text changes, the findings), save with PUT + If-Match.
(function () {
  "use strict";
  var form = document.getElementById("article-form");
  if (!form) { return; }
  var csrf = form.dataset.csrf;
  var etag = form.dataset.etag;
  var status = document.getElementById("status");
  var findings = document.getElementById("findings-article");
  var moves = document.getElementById("moves");
  var text = document.getElementById("article-text");
  var timer = null;
  var sequence = 0;

  function say(message) { status.textContent = message; }

  function show(list) {
    findings.replaceChildren();
    (list || []).forEach(function (finding) {
      var item = document.createElement("li");
      item.className = finding.level === "error" ? "error" : "warning";
      item.textContent = finding.message;
      findings.appendChild(item);
    });
  }

  function check() {
    var mine = ++sequence;
    say("Checking…");
    studioRequest("POST", "/studio/api/article/check", { text: text.value }, csrf).then(function (answer) {
      if (mine !== sequence) { return; }
      if (answer.status !== 200) { say("Could not check: " + (answer.json.error || answer.status)); return; }
      show(answer.json.findings);
      showMoves(moves, answer.json.moves);
      say(answer.json.ok ? "Checked: nothing blocks saving (not saved yet)." : "Checked: fix the errors before saving (not saved).");
    }).catch(function () { if (mine === sequence) { say("Could not reach the studio."); } });
  }

  text.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(check, 500);
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    window.clearTimeout(timer);
    say("Saving…");
    studioRequest("PUT", "/studio/api/article", { text: text.value }, csrf, { "If-Match": etag }).then(function (answer) {
      if (answer.status === 200) {
        if (answer.json.etag) { etag = answer.json.etag; form.elements.etag.value = etag; }
        showMoves(moves, answer.json.moves);
        say(answer.json.unchanged ? "Nothing to save: no change." : "Saved (revision " + answer.json.revision + ").");
      } else if (answer.status === 422) {
        show((answer.json.problems || []).map(function (p) { return { level: "error", message: p.message }; }));
        say("Not saved: fix the errors shown below.");
      } else {
        say("Not saved: " + (answer.json.error || answer.status));
      }
    }).catch(function () { say("Not saved: could not reach the studio."); });
  });
}());
