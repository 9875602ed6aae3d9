// Jusou: live updates and form messages in Japanese. No framework beyond htmx.
(function () {
  // Live updates: the service says when its store changed; every live part of the page reloads. Only on a
  // signed-in reader's page (base.html `data-live`): the stream answers nobody else (the login page).
  if (window.EventSource && document.body && document.body.hasAttribute("data-live")) {
    const source = new EventSource("/ui/events");
    // A change between the page's render and the stream's (re)opening would be missed: refresh once on open.
    source.addEventListener("open", function () {
      document.body.dispatchEvent(new CustomEvent("jusou-changed", { detail: "open" }));
    });
    source.addEventListener("changed", function (e) {
      document.body.dispatchEvent(new CustomEvent("jusou-changed", { detail: e.data }));
      const live = document.getElementById("live-status");
      if (live) live.textContent = "更新しました / updated " + new Date().toLocaleTimeString("ja-JP");
    });
  }
  // What the templates once did inline (the CSP runs no inline script or style):
  // a print button, a select that submits its form, the audit tree's indentation by depth.
  document.addEventListener("click", function (e) {
    if (e.target.closest && e.target.closest("[data-print]")) { e.preventDefault(); window.print(); }
  });
  document.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches("[data-submit-on-change]") && e.target.form) e.target.form.submit();
  });
  function indent(root) {
    root.querySelectorAll("li[data-depth]").forEach(function (li) {
      li.style.marginLeft = (parseInt(li.dataset.depth, 10) || 0) * 1.5 + "em";
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { indent(document); });
  else indent(document);
  document.addEventListener("htmx:afterSwap", function (e) { indent(e.target); });
  // Validation as you type, said in words.
  function message(field) {
    const v = field.validity;
    if (v.valid) return "";
    if (v.valueMissing) return "入力してください（必須）/ required";
    if (v.patternMismatch) return field.dataset.patternMessage || "形式が正しくありません / wrong format";
    if (v.tooLong) return field.maxLength + "文字以内で入力してください / too long";
    if (v.typeMismatch) return "形式が正しくありません / wrong format";
    return field.validationMessage;
  }
  function check(field) {
    const text = message(field);
    field.setAttribute("aria-invalid", text ? "true" : "false");
    const out = document.getElementById(field.id + "-error");
    if (out) out.textContent = text;
  }
  document.addEventListener("input", function (e) { if (e.target.matches("input, select, textarea")) check(e.target); });
  document.addEventListener("blur", function (e) { if (e.target.matches && e.target.matches("input, select, textarea")) check(e.target); }, true);
  // Add a row (goal, role, position…) by cloning the template next to the button.
  let rowSeq = 0;
  document.addEventListener("click", function (e) {
    const add = e.target.closest("[data-add-row]");
    if (!add) return;
    e.preventDefault();
    const template = document.getElementById(add.dataset.addRow);
    const target = document.getElementById(add.dataset.target);
    const row = template.content.cloneNode(true);
    // Each added row gets its own ids, so that `label for=` keeps naming its field: "__n__" → new1, new2…
    rowSeq += 1;
    row.querySelectorAll("[id*='__n__'], [for*='__n__']").forEach(function (el) {
      ["id", "for"].forEach(function (a) { if (el.hasAttribute(a)) el.setAttribute(a, el.getAttribute(a).replace("__n__", "new" + rowSeq)); });
    });
    target.appendChild(row);
    const first = target.lastElementChild && target.lastElementChild.querySelector("input, select, textarea");
    if (first) first.focus();
  });
  // Remove a row: a `data-remove-row` button inside an element marked `data-row`.
  document.addEventListener("click", function (e) {
    const remove = e.target.closest("[data-remove-row]");
    if (!remove) return;
    e.preventDefault();
    const row = remove.closest("[data-row]");
    const next = row && (row.nextElementSibling || row.previousElementSibling);
    if (row) row.remove();
    const focus = next && next.querySelector("input, select, textarea");
    if (focus) focus.focus();
  });
})();
