// Jusou: live updates and form messages in Japanese. No framework beyond htmx.
(function () {
  // A form refused where it stands (a 4xx with the reason and what was typed) is answered at the POST's address, which
  // is no page: a reload would post the form again, and a GET there is refused (405). The page names the page the
  // form was sent from (base.html data-page, shared/web/ui.py sent_from): the address bar shows that page, so a reload
  // asks for it and posts nothing, and the next send comes from it (signing in again comes back there).
  const sentFrom = document.body ? document.body.dataset.page : "";
  if (sentFrom && sentFrom.charAt(0) === "/" && sentFrom.charAt(1) !== "/" && window.history && history.replaceState) {
    try { history.replaceState(history.state, "", sentFrom + location.hash); } catch (err) { /* another origin: left */ }
  }
  // Live updates: the service says when its store changed; every live part of the page reloads. Only on a
  // signed-in reader's page (base.html `data-live`): the stream answers nobody else (the login page).
  let source = null, stale = false;
  if (window.EventSource && document.body && document.body.hasAttribute("data-live")) {
    source = new EventSource("/ui/events");
    // A change between the page's render and the stream's (re)opening would be missed: refresh once on open.
    source.addEventListener("open", function () {
      document.body.dispatchEvent(new CustomEvent("jusou-changed", { detail: "open" }));
    });
    source.addEventListener("changed", function (e) {
      document.body.dispatchEvent(new CustomEvent("jusou-changed", { detail: e.data }));
      const live = document.getElementById("live-status");
      if (live && !stale) live.textContent = "更新しました / updated " + new Date().toLocaleTimeString("ja-JP");
    });
  }
  // A live part's refresh that comes back as the sign-in page (the session ended while the page stayed open: the
  // request was sent on to /ui/login) or as a refusal is not put into the page (it was: the whole sign-in page inside
  // the list). The part stays as it was, the updates stop, and the page says so, with the way to sign in again and
  // come back here; a form being filled in keeps what was typed (sent, it is put back after signing in).
  document.addEventListener("htmx:beforeSwap", function (e) {
    const xhr = e.detail.xhr;
    let to = "";
    try { to = new URL(xhr.responseURL || location.href, location.href).pathname; } catch (err) { to = ""; }
    const signedOut = /^\/ui\/login(\/|$)/.test(to);
    if (!signedOut && xhr.status < 400) {
      // A live part holding a form being filled in (the catalogue's 案内情報 opened to write in) is not replaced while
      // it is: what was typed, the open box and the focus went with the old rows. It catches up at the next change.
      if (filling(e.detail.target)) e.detail.shouldSwap = false;
      return;
    }
    e.detail.shouldSwap = false;
    e.detail.isError = false;
    staleNotice(signedOut ? "ログインの有効期限が切れたため、この画面は更新されていません。入力中のフォームは、そのまま送信すればログインし直した後に内容が戻ります / " +
                            "your sign-in has ended: this page is no longer updated. A form you are filling in keeps what you typed: send it, sign in again, and it is put back"
                          : "この画面の一覧を更新できませんでした（" + xhr.status + "）。画面を開き直してください / " +
                            "this page's list could not be refreshed (" + xhr.status + "): reload the page", signedOut);
  });
  function filling(part) {
    if (!part || !part.querySelectorAll) return false;
    const active = document.activeElement;
    if (active && active !== document.body && part.contains(active) && active.matches("input, select, textarea, summary")) return true;
    return Array.prototype.some.call(part.querySelectorAll("form"), function (form) {
      const box = form.closest("details");
      return (box && box.open) || typed(form);
    });
  }
  function staleNotice(text, signIn) {
    stale = true;
    if (signIn && source) { source.close(); source = null; }
    const live = document.getElementById("live-status");
    if (live) live.textContent = "";
    let note = document.getElementById("stale-note");
    if (!note) {
      const main = document.getElementById("main");
      if (!main) return;
      note = document.createElement("p");
      note.id = "stale-note";
      note.className = "callout warn";
      note.setAttribute("role", "alert");
      main.insertBefore(note, live ? live.nextSibling : main.firstChild);
    }
    note.textContent = text;
    const here = location.pathname + location.search;
    const a = document.createElement("a");
    a.href = signIn ? "/ui/login?next=" + encodeURIComponent(here) : here;
    a.textContent = signIn ? "ログインし直す / sign in again" : "画面を開き直す / reload";
    note.append(" ", a);
  }
  // What the templates once did inline (the CSP runs no inline script or style):
  // a print button, a select that submits its form, the audit tree's indentation by depth.
  document.addEventListener("click", function (e) {
    if (e.target.closest && e.target.closest("[data-print]")) { e.preventDefault(); window.print(); }
  });
  // A choice made with the mouse shows its page at once; one made with the keyboard waits for Enter (or the form's
  // button): an arrow key changes a closed select at each press, and the page left at the first one (WCAG 3.2.2), the
  // focus lost with it, so a keyboard could not reach the third counter.
  let keyed = null;
  document.addEventListener("keydown", function (e) {
    if (!(e.target.matches && e.target.matches("[data-submit-on-change]"))) return;
    if (e.key === "Enter" && e.target.form) { e.preventDefault(); e.target.form.submit(); return; }
    if (e.key !== "Tab") keyed = e.target;
  });
  document.addEventListener("mousedown", function () { keyed = null; });
  document.addEventListener("change", function (e) {
    if (!(e.target.matches && e.target.matches("[data-submit-on-change]") && e.target.form)) return;
    if (keyed === e.target) return;
    e.target.form.submit();
  });
  function indent(root) {
    root.querySelectorAll("li[data-depth]").forEach(function (li) {
      li.style.marginLeft = (parseInt(li.dataset.depth, 10) || 0) * 1.5 + "em";
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { indent(document); });
  else indent(document);
  document.addEventListener("htmx:afterSwap", function (e) { indent(e.target); });
  // 和暦 beside each date field (令和8年12月5日), as the date is typed or picked: staff think in 和暦, a date field
  // shows the Western calendar. Only a reading (the field still sends YYYY-MM-DD); without this script the page works
  // as before, and the lists' from/to also read 和暦 typed as text (shared/web/dates.py read_day).
  const ERAS = [[2019, 5, 1, "令和"], [1989, 1, 8, "平成"], [1926, 12, 25, "昭和"], [1912, 7, 30, "大正"]];  // shared/domain/wareki.py
  function warekiOf(iso) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || "");
    if (!m) return "";
    const y = +m[1], mo = +m[2], d = +m[3], key = y * 10000 + mo * 100 + d;
    for (let i = 0; i < ERAS.length; i++) {
      const e = ERAS[i];
      if (key >= e[0] * 10000 + e[1] * 100 + e[2]) {
        const n = y - e[0] + 1;
        return e[3] + (n === 1 ? "元" : n) + "年" + mo + "月" + d + "日";
      }
    }
    return y + "年" + mo + "月" + d + "日";
  }
  let readingSeq = 0;
  function showWareki(field) {
    let out = field.wareki;
    if (!out) {
      out = document.createElement("span");
      out.className = "wareki-reading";
      out.setAttribute("aria-hidden", "true");  // not part of the label's name; read as the field's description
      readingSeq += 1;
      out.id = (field.id || "date" + readingSeq) + "-wareki";
      field.insertAdjacentElement("afterend", out);
      field.setAttribute("aria-describedby", ((field.getAttribute("aria-describedby") || "") + " " + out.id).trim());
      field.wareki = out;
    }
    out.textContent = warekiOf(field.value);
  }
  function wareki(root) {
    (root.querySelectorAll ? root : document).querySelectorAll("input[type=date]").forEach(showWareki);
  }
  document.addEventListener("input", function (e) { if (e.target.matches && e.target.matches("input[type=date]")) showWareki(e.target); });
  document.addEventListener("change", function (e) { if (e.target.matches && e.target.matches("input[type=date]")) showWareki(e.target); });
  document.addEventListener("reset", function (e) { setTimeout(function () { wareki(e.target); }, 0); });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { wareki(document); });
  else wareki(document);
  document.addEventListener("htmx:afterSwap", function (e) { wareki(e.target); });
  // What was typed survives signing in again (README "Pages"). A form posted when the session had ended (or its CSRF
  // token was no longer the session's) is refused, and the browser goes to the sign-in page or an error page. So on
  // submit the form's fields are kept in this tab's sessionStorage (never in a URL, never sent anywhere else); when the
  // same staff member is back on the form's page after signing in again, they are put back in the form, with a note,
  // and NOT sent: the person checks them and presses the button (a page of another site cannot write this origin's
  // storage, and nothing is submitted by itself). Any other page after the submit (it went through) drops them; so do
  // signing out, another staff member signing in here, and a draft older than DRAFT_MS.
  const DRAFT = "jusou-draft", DRAFT_MS = 12 * 3600 * 1000, KEY = "idempotency_key", CSRF = "csrf_token";
  function storage() { try { return window.sessionStorage; } catch (err) { return null; } }
  function readDraft() {
    const s = storage();
    try { return s ? JSON.parse(s.getItem(DRAFT) || "null") : null; } catch (err) { return null; }
  }
  function writeDraft(d) { const s = storage(); try { if (s) { if (d) s.setItem(DRAFT, JSON.stringify(d)); else s.removeItem(DRAFT); } } catch (err) { /* full or off */ } }
  function whoIsHere() { return document.body ? (document.body.dataset.staff || "") : ""; }
  function actionOf(form) { return new URL(form.getAttribute("action") || location.href, location.href).pathname; }
  function kept(form) {  // forms whose fields are never kept: signing in and out, a password, a file
    const action = actionOf(form);
    // the attribute, not `form.method`: a field named "method" (方法 of a consent, a case note, a contact) is what
    // `form.method` names then, and the draft was never kept for those forms
    return (form.getAttribute("method") || "").toLowerCase() === "post" && !/^\/ui\/log(in|out)(\/|$)/.test(action)
      && !form.querySelector("input[type=password], input[type=file]");
  }
  function fieldsOf(form, submitter) {  // every field sent but the session's CSRF token and the form's key
    const pairs = [];
    new FormData(form).forEach(function (value, name) { if (name !== CSRF && name !== KEY && typeof value === "string") pairs.push([name, value]); });
    if (submitter && submitter.name) pairs.push([submitter.name, submitter.value]);
    return pairs;
  }
  function typed(form) {  // something differs from the page as it came (a form of buttons only keeps nothing)
    return Array.prototype.some.call(form.elements, function (el) {
      if (!el.name || /^(hidden|submit|button|reset|file|password)$/.test(el.type)) return false;
      if (el.type === "checkbox" || el.type === "radio") return el.checked !== el.defaultChecked;
      if (el.tagName === "SELECT" && el.multiple) return Array.prototype.some.call(el.options, function (o) { return o.selected !== o.defaultSelected; });
      if (el.tagName === "SELECT") {
        const first = Array.prototype.findIndex.call(el.options, function (o) { return o.defaultSelected; });
        return el.selectedIndex !== (first >= 0 ? first : 0);
      }
      return el.value !== el.defaultValue;
    });
  }
  function samePairs(a, b) { return JSON.stringify(a) === JSON.stringify(b); }
  function isSignIn() { return /^\/ui\/login(\/|$)/.test(location.pathname); }
  function isRefusal() { return !!document.querySelector("[data-error-page]"); }
  function refusalStatus() {  // the HTTP status of this page's answer (0 where the browser does not say)
    try {
      const nav = performance.getEntriesByType("navigation")[0];
      return (nav && nav.responseStatus) || 0;
    } catch (err) { return 0; }
  }
  function notice(text, link) {
    const main = document.getElementById("main");
    if (!main) return null;
    const p = document.createElement("p");
    p.className = "callout draft-note";
    p.setAttribute("role", "status");
    p.textContent = text;
    if (link) {
      const a = document.createElement("a");
      a.href = link;
      a.textContent = "入力した内容を戻して元の画面へ / back to the form with what you typed";
      p.append(" ", a);
    }
    const live = document.getElementById("live-status");
    main.insertBefore(p, live ? live.nextSibling : main.firstChild);
    return p;
  }
  function restore(form, draft) {
    const values = {};
    draft.fields.forEach(function (pair) { (values[pair[0]] = values[pair[0]] || []).push(pair[1]); });
    Object.keys(values).forEach(function (name) {
      const want = values[name];
      const byName = function () { return Array.prototype.filter.call(form.elements, function (el) { return el.name === name; }); };
      // rows added on the page (goals, roles…): add as many as were sent, with the row's own button
      for (let tries = 0; tries < 50; tries++) {
        const fields = byName().filter(function (el) { return !/^(checkbox|radio|hidden|submit|button)$/.test(el.type); });
        if (!fields.length || fields.length >= want.length) break;
        const adder = Array.prototype.find.call(form.querySelectorAll("[data-add-row]"), function (b) {
          const t = document.getElementById(b.dataset.addRow);
          return t && t.content && t.content.querySelector("[name='" + CSS.escape(name) + "']");
        });
        if (!adder) break;
        adder.click();
      }
      let i = 0;
      byName().forEach(function (el) {
        if (el.type === "hidden" || el.type === "submit" || el.type === "button" || el.type === "file" || el.type === "password") return;
        if (el.type === "checkbox" || el.type === "radio") { el.checked = want.indexOf(el.value) >= 0; return; }
        if (el.tagName === "SELECT" && el.multiple) {
          Array.prototype.forEach.call(el.options, function (o) { o.selected = want.indexOf(o.value) >= 0; });
          return;
        }
        if (i < want.length) { el.value = want[i]; i += 1; el.dispatchEvent(new Event("input", { bubbles: true })); }
      });
    });
    // The key of the form as first sent: sent again unchanged it is the same command (recorded once, whatever
    // happened to the first); changed, it is a new one (the page's fresh key).
    const keyField = form.querySelector("input[name='" + KEY + "']");
    if (keyField && draft.key) {
      const fresh = keyField.value;
      keyField.value = draft.key;
      form.addEventListener("submit", function (e) {
        keyField.value = samePairs(fieldsOf(form, e.submitter), draft.sent) ? draft.key : fresh;
      }, true);
    }
    const note = notice("ログインし直す前に入力した内容を戻しました。まだ送信していません。内容を確かめてから送信してください / " +
                        "what you typed before signing in again is back in the form; it has not been sent: check it, then submit");
    if (note) {
      const discard = document.createElement("button");
      discard.type = "button";
      discard.className = "secondary";
      discard.textContent = "戻した入力を消す / discard it";
      discard.addEventListener("click", function () {
        form.reset();
        if (keyField && draft.key) keyField.value = keyField.defaultValue;
        note.remove();
      });
      note.append(" ", discard);
    }
    const first = Array.prototype.find.call(form.elements, function (el) { return el.name && values[el.name] && el.type !== "hidden"; });
    if (first) first.focus();
  }
  document.addEventListener("submit", function (e) {
    const form = e.target;
    if (!(form instanceof HTMLFormElement)) return;
    if (/^\/ui\/logout(\/|$)/.test(actionOf(form))) { writeDraft(null); return; }
    if (!kept(form)) return;  // signing in: what was kept stays for the form's page
    if (!whoIsHere() || !typed(form)) { writeDraft(null); return; }  // nothing typed: nothing to put back
    const same = Array.prototype.filter.call(document.forms, function (f) { return actionOf(f) === actionOf(form); });
    const all = fieldsOf(form, e.submitter);
    const keyField = form.querySelector("input[name='" + KEY + "']");
    writeDraft({ v: 1, state: "sent", at: Date.now(), staff: whoIsHere(), page: location.pathname, action: actionOf(form),
                 index: same.indexOf(form), sent: all, key: keyField ? keyField.value : "",
                 fields: all.filter(function (pair) {
                   const el = form.elements.namedItem(pair[0]);
                   return !(el && el.type === "hidden") && !(e.submitter && pair[0] === e.submitter.name);
                 }) });
  });
  function onDraft() {
    const draft = readDraft();
    if (!draft) return;
    const signedOut = new URLSearchParams(location.search).get("ok") === "signed_out";
    if (draft.v !== 1 || Date.now() - draft.at > DRAFT_MS || signedOut) { writeDraft(null); return; }
    if (isSignIn() || isRefusal()) {  // refused: keep it for the form's page
      // Refused as a request (4xx: another tab sent this form's key with other content, or the rule said no), nothing
      // was recorded under its key: sent again it is a new command with the page's fresh key (the same key would be
      // refused again, for ever). After a failure (5xx) it keeps its key: the first may have been recorded.
      const status = refusalStatus();
      if (isRefusal() && status >= 400 && status < 500) draft.key = "";
      writeDraft(Object.assign(draft, { state: "waiting" }));
      notice(isSignIn()
        ? "送信できなかった入力はこのタブに残してあります。ログインすると元の画面に戻り、入力した内容を戻します（自動では送信しません）/ " +
          "what you typed is kept in this tab: sign in and it is put back in the form (not sent by itself)"
        : "入力した内容はこのタブに残してあります / what you typed is kept in this tab", isSignIn() ? null : draft.page);
      return;
    }
    const justSignedIn = new URLSearchParams(location.search).get("ok") === "signed_in";
    if (draft.state === "waiting" && justSignedIn && whoIsHere() === draft.staff && location.pathname !== draft.page) {
      // signed in again but brought elsewhere (the browser sent no Referer): offer the way back, once
      notice("送信できなかった入力がこのタブに残っています / what you typed before signing in again is kept", draft.page);
      return;
    }
    writeDraft(null);  // this page is not the sign-in page nor a refusal: the form went through, or the person moved on
    if (draft.state !== "waiting" || location.pathname !== draft.page || whoIsHere() !== draft.staff) return;
    const forms = Array.prototype.filter.call(document.forms, function (f) { return actionOf(f) === draft.action; });
    const form = forms[draft.index] || forms[0];
    if (form) restore(form, draft);
  }
  // A form refused where it stands on a long page (a decision among a meeting's agenda, an evaluation, a case note)
  // comes back as the page, at its top, with the reason beside the form, screens below: the button seemed to have done
  // nothing. The reason is brought into view and takes the focus (read out, and the keyboard goes on from there).
  function showRefusal() {
    if (isRefusal() || refusalStatus() < 400) return;
    const reason = document.querySelector("main .flash.ng");
    if (!reason) return;
    const box = reason.getBoundingClientRect();
    if (box.top >= 0 && box.bottom <= window.innerHeight) return;  // in view already (a page's own top message)
    if (!reason.hasAttribute("tabindex")) reason.setAttribute("tabindex", "-1");
    reason.scrollIntoView({ block: "center" });
    reason.focus({ preventScroll: true });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", showRefusal);
  else showRefusal();
  // The sign-in page after a wrong password: the staff id typed is back in its field (this tab only, never the
  // password) and the password field has the focus; a fresh sign-in page puts the focus on the staff id. Any other page
  // forgets the id.
  const LOGIN_ID = "jusou-login-id";
  document.addEventListener("submit", function (e) {
    const form = e.target;
    if (!(form instanceof HTMLFormElement) || !/^\/ui\/login(\/|$)/.test(actionOf(form))) return;
    const id = form.querySelector("input[name='staff_id']");
    const s = storage();
    try { if (s && id) s.setItem(LOGIN_ID, id.value); } catch (err) { /* full or off */ }
  });
  function onSignInPage() {
    const s = storage();
    if (!isSignIn()) { try { if (s) s.removeItem(LOGIN_ID); } catch (err) { /* off */ } return; }
    const id = document.querySelector("form input[name='staff_id']");
    const password = document.querySelector("form input[name='password']");
    if (!id || !password) return;
    let kept = "";
    try { kept = (s && s.getItem(LOGIN_ID)) || ""; } catch (err) { kept = ""; }
    const refused = new URLSearchParams(location.search).get("ng") === "wrong_password";
    if (refused && kept && !id.value) id.value = kept;
    (refused && id.value ? password : id).focus();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", onSignInPage);
  else onSignInPage();
  // after the whole script has run: putting rows back clicks the add-row button, whose listener is below
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", onDraft);
  else setTimeout(onDraft, 0);
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
    renumber(target);
    wareki(target);
    const first = target.lastElementChild && target.lastElementChild.querySelector("input, select, textarea");
    if (first) first.focus();
  });
  // Rows numbered as they stand (目標1, 目標2…; 役割2を削除): an element with `data-n-text` shows that text, and one
  // with `data-n-aria` is named by it, with {n} its row's place among the box's rows, after each add and remove, so
  // that a screen reader tells the fields apart (else every added one was 「追加の目標」).
  function renumber(box) {
    Array.prototype.filter.call(box.children, function (el) { return el.hasAttribute("data-row"); })
      .forEach(function (row, i) {
        [row].concat(Array.prototype.slice.call(row.querySelectorAll("[data-n-text], [data-n-aria]"))).forEach(function (el) {
          if (el.hasAttribute("data-n-text")) el.textContent = el.getAttribute("data-n-text").replace("{n}", i + 1);
          if (el.hasAttribute("data-n-aria")) el.setAttribute("aria-label", el.getAttribute("data-n-aria").replace("{n}", i + 1));
        });
      });
  }
  // Remove a row: a `data-remove-row` button inside an element marked `data-row`.
  document.addEventListener("click", function (e) {
    const remove = e.target.closest("[data-remove-row]");
    if (!remove) return;
    e.preventDefault();
    const row = remove.closest("[data-row]");
    const next = row && (row.nextElementSibling || row.previousElementSibling);
    const box = row && row.parentElement;
    if (row) row.remove();
    if (box) renumber(box);
    const focus = next && next.querySelector("input, select, textarea");
    if (focus) focus.focus();
  });
  // Ready: every listener above is attached, htmx has read the page (it does at DOMContentLoaded, before the load
  // event) and a draft kept for this page has been put back (onDraft's turn, queued before this one). A mark on <html>
  // only, data-jusou="ready", which the UI tests wait for before they act on what this script does (tests/support/
  // ui_ready.py); nothing on the page reads it and nothing changes with it.
  function ready() { setTimeout(function () { document.documentElement.setAttribute("data-jusou", "ready"); }, 0); }
  if (document.readyState === "complete") ready();
  else window.addEventListener("load", ready);
})();
