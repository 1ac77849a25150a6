// The review workspace: keyboard shortcuts, the undo grace period, lease renewals, the prefetched next task, and
// the tasks held from another page (closed, crashed, another tab), to resume or release.
// Task HTML comes rendered (and escaped) by the server; this script only moves it around and never builds markup
// from data: messages are set with textContent.
"use strict";

(() => {
  const workspace = document.getElementById("workspace");
  const slot = document.getElementById("task-slot");
  const toast = document.getElementById("toast");
  const help = document.getElementById("help");
  const skipDialog = document.getElementById("skip-dialog");
  const skipReason = document.getElementById("skip-reason");
  const heldSlot = document.getElementById("held-slot");
  const noTask = document.getElementById("no-task");
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const undoMs = Math.round(parseFloat(workspace.dataset.undoSeconds) * 1000);
  const limit = parseInt(workspace.dataset.maxLeases, 10); // the server's limit of tasks held at once
  // The queue the reviewer chose ("flow/queue"), sent with every request that claims; empty: all their queues.
  const [workFlow, workQueue] = workspace.dataset.queue ? workspace.dataset.queue.split("/") : [null, null];
  const workOn = { flow: workFlow, queue: workQueue };

  let current = null; // the task on screen: {id, token, ttl, labels, el, label, deadline, lastBeat, lost}
  let ahead = []; // tasks claimed but not shown yet (a prefetched next task, or the one an undo put back)
  let pending = null; // a submitted answer held for the undo period: {task, label, comment, timer}
  let busy = false;
  let fetching = false; // a claim is on its way (alone, or asked for with an answer)
  const sending = new Set(); // ids of tasks whose answers are on their way: still leased until the server has them
  let emptyPoll = null;
  let leaving = false; // the reviewer is leaving the page: a task a request still brings is given back at once
  const inflight = new Set(); // requests on their way; a claim among them may bring a task
  const givingBack = []; // releases of tasks that arrived while leaving

  function post(url, body, keepalive = false) {
    const request = fetchJson(url, {
      method: "POST",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify(body || {}),
      credentials: "same-origin",
      keepalive,
    });
    inflight.add(request);
    request.finally(() => inflight.delete(request));
    return request;
  }

  async function fetchJson(url, options) {
    let response;
    try {
      response = await fetch(url, options);
    } catch (error) {
      return { ok: false, status: 0, message: "the server cannot be reached; check your connection" };
    }
    let data = null;
    try { data = await response.json(); } catch (error) { data = null; }
    if (!response.ok) {
      const message = data && data.error && data.error.message ? data.error.message : `error ${response.status}`;
      return { ok: false, status: response.status, message };
    }
    return { ok: true, status: response.status, data };
  }

  function say(text, withUndo = false) {
    toast.replaceChildren();
    if (!text) return;
    const span = document.createElement("span");
    span.textContent = text;
    toast.append(span);
    if (withUndo) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "undo-button";
      button.textContent = "Undo (U)";
      button.addEventListener("click", undo);
      toast.append(button);
    }
  }

  function build(payload) {
    const holder = document.createElement("div");
    holder.innerHTML = payload.html; // rendered and escaped by the server's templates
    const el = holder.firstElementChild;
    if (!payload.task) return { empty: true, el };
    const task = {
      id: payload.task.id, token: payload.task.token, ttl: payload.task.ttl, caseId: payload.task.case_id,
      labels: payload.task.labels, el, label: null, lost: false,
      deadline: performance.now() + payload.task.ttl * 1000, lastBeat: performance.now(),
    };
    el.querySelectorAll(".label-button").forEach((button) => {
      button.addEventListener("click", () => choose(task, button.dataset.label));
    });
    el.querySelector(".submit-button").addEventListener("click", commit);
    el.querySelector(".skip-button").addEventListener("click", openSkip);
    el.querySelector(".next-button").addEventListener("click", moveOn);
    return task;
  }

  function show(task) {
    current = task;
    slot.replaceChildren(task.el);
    const heading = task.el.querySelector("h1");
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true }); // screen readers announce the new case; shortcuts keep working
    window.scrollTo(0, 0);
    tick();
  }

  // Nothing on screen and nothing coming by itself: say why, and that N tries again (the way out of every stall).
  function stuck(message) {
    if (current) return;
    const el = noTask.content.firstElementChild.cloneNode(true);
    el.querySelector(".stall").textContent = message;
    slot.replaceChildren(el);
  }

  function showEmpty(el) {
    current = null;
    slot.replaceChildren(el);
    clearInterval(emptyPoll);
    emptyPoll = setInterval(() => { if (!current && !busy) moveOn(); }, 15000);
  }

  function accept(payload) { // a claimed task from the server (or none): show it, or keep it for later
    if (!payload) return;
    if (leaving) {
      if (payload.task) givingBack.push(giveBack(payload.task));
      return;
    }
    const task = build(payload);
    if (task.empty) { if (!current) showEmpty(task.el); return; }
    clearInterval(emptyPoll);
    if (!current) show(task); else ahead.push(task);
  }

  function choose(task, label) {
    if (task.lost) return;
    task.label = task.label === label ? null : label;
    task.el.querySelectorAll(".label-button").forEach((button) => {
      button.setAttribute("aria-pressed", String(button.dataset.label === task.label));
    });
  }

  function markLost(task, message) {
    task.lost = true;
    task.el.classList.add("is-lost");
    const box = task.el.querySelector(".lost");
    box.textContent = `Your lease on this task was lost: ${message}. Your label and comment are kept below; ` +
      "press N for the next task.";
    box.hidden = false;
    task.el.querySelector(".submit-button").disabled = true;
    task.el.querySelector(".skip-button").disabled = true;
    task.el.querySelector(".next-button").hidden = false;
    tick();
  }

  // Room for one more task ready behind the one on screen: none is ready or on its way, and the limit allows it.
  function room() {
    return !fetching && !leaving && ahead.length === 0 && held().length + sending.size < limit;
  }

  async function send(held, keepalive = false) { // submit a held answer; the reply brings the next task if room
    const next = !keepalive && room(); // the task sent no longer counts: the server records it before claiming
    sending.add(held.task.id);
    if (next) fetching = true;
    let result;
    try {
      result = await post(`/review/tasks/${held.task.id}/submit`, {
        token: held.task.token, label: held.label, comment: held.comment, next, ...workOn,
      }, keepalive);
    } finally {
      sending.delete(held.task.id);
      if (next) fetching = false;
    }
    if (result.ok) {
      accept(result.data.next);
      if (result.data.next && result.data.next.task) topUp(); // it went on screen: the one after it, too
      return;
    }
    // Not recorded: bring the task back with what the reviewer chose and typed.
    if (current) ahead.unshift(current);
    show(held.task);
    if (result.status === 409 || result.status === 404) markLost(held.task, result.message);
    else say(`Your decision on case ${held.task.caseId} was not sent: ${result.message}. Press Enter to try again.`);
  }

  async function flush(keepalive = false) { // send the held answer now
    if (!pending) return;
    const held = pending;
    pending = null;
    clearTimeout(held.timer);
    say("");
    await send(held, keepalive);
  }

  async function commit() {
    if (!current || current.lost) return;
    const task = current;
    if (!task.label) { say("Choose a label first: press 1 to 9."); return; }
    const earlier = pending; // a fast reviewer: the previous answer is still held; send it now
    if (earlier) clearTimeout(earlier.timer);
    const comment = task.el.querySelector(".comment").value;
    pending = { task, label: task.label, comment, timer: setTimeout(() => flush(), undoMs) };
    say(`Decision "${task.label}" on case ${task.caseId} will be sent in ${undoMs / 1000} s.`, true);
    current = null;
    if (ahead.length) show(ahead.shift()); // the prefetched task: no wait
    busy = true;
    try {
      if (earlier) await send(earlier); // its reply brings the next task, if there is room
      await topUp(); // else claim it now, while this decision waits out its undo period
      if (!current && ahead.length) show(ahead.shift());
      if (!current && pending && !fetching) {
        stuck("Your next task is claimed once this decision is sent: you hold as many tasks as you may. " +
          "Press U to take the decision back, or N to send it now.");
      }
    } finally { busy = false; }
  }

  async function claimNext() { // claim a task: shown if nothing is on screen, else held ready behind it
    fetching = true;
    let result;
    try { result = await post("/review/next", workOn); } finally { fetching = false; }
    if (result.ok) {
      accept(result.data);
      if (result.data.task) topUp(); // it went on screen (a submit was quicker than this claim): one more
      return;
    }
    if (current) return; // a prefetch that failed: the next answer's reply tries again
    stuck(`Could not get the next task: ${result.message}. Press N to try again.`);
    if (result.status === 429) refreshHeld(); // held elsewhere: list them, to resume or release
  }

  async function topUp() { // keep one task ready behind the one on screen, while the limit leaves room
    if (room()) await claimNext();
  }

  function undo() {
    if (!pending) return;
    const held = pending;
    pending = null;
    clearTimeout(held.timer);
    if (current) ahead.unshift(current);
    show(held.task);
    say(`Undone: case ${held.task.caseId} is back; nothing was sent.`);
  }

  async function moveOn() { // N: after a lost lease or an empty queue
    if (busy) return;
    if (current && !current.lost) return;
    busy = true;
    try {
      if (pending) await flush();
      if (current && !current.lost) return;
      current = null;
      if (ahead.length) show(ahead.shift()); else if (!fetching) await claimNext();
    } finally { busy = false; }
    if (current) topUp();
  }

  function openSkip() {
    if (!current || current.lost || busy) return;
    skipReason.value = "";
    skipDialog.returnValue = "";
    skipDialog.showModal();
    skipReason.focus();
  }

  skipDialog.addEventListener("close", async () => {
    if (skipDialog.returnValue !== "skip" || !current) return;
    const task = current;
    const reason = skipReason.value.trim();
    if (!reason) return;
    busy = true;
    try {
      if (pending) await flush();
      if (current !== task) return;
      const result = await post(`/review/tasks/${task.id}/skip`, {
        token: task.token, reason, next: ahead.length === 0, ...workOn,
      });
      if (!result.ok) {
        if (result.status === 409) markLost(task, result.message); else say(`The skip failed: ${result.message}`);
        return;
      }
      say(`Skipped case ${task.caseId}.`);
      current = null;
      if (ahead.length) show(ahead.shift()); else accept(result.data.next);
    } finally { busy = false; }
  });

  // ---- tasks held from another page: resume or release each ------------------------------------------------
  async function refreshHeld() { // list the reviewer's leases that this page does not hold; how many
    const result = await fetchJson("/review/held", { headers: { "x-csrf-token": csrf }, credentials: "same-origin" });
    if (!result.ok) { say(`Could not list the tasks you hold: ${result.message}`); return 0; }
    heldSlot.innerHTML = result.data.html; // rendered and escaped by the server's templates
    const mine = new Set([...held().map((task) => task.id), ...sending]);
    const rows = [...heldSlot.querySelectorAll("tr[data-task]")].filter((row) => {
      if (!mine.has(Number(row.dataset.task))) return true;
      row.remove();
      return false;
    });
    for (const row of rows) {
      const task = { id: Number(row.dataset.task), token: Number(row.dataset.token) };
      row.querySelector(".resume-button").addEventListener("click", () => resumeHeld(task, row));
      row.querySelector(".release-button").addEventListener("click", () => releaseHeld(task, row));
    }
    if (!rows.length) heldSlot.replaceChildren();
    else if (!current) rows[0].querySelector(".resume-button").focus(); // nothing else to do: keys act on the list
    return rows.length;
  }

  function forget(row) { // a held task taken up or given back: off the list; focus the next one on it
    const others = [...heldSlot.querySelectorAll("tr[data-task]")].filter((other) => other !== row);
    row.remove();
    if (!others.length) heldSlot.replaceChildren();
    else if (!current) others[0].querySelector(".resume-button").focus();
  }

  async function resumeHeld(task, row) {
    const result = await post(`/review/tasks/${task.id}/resume`, { token: task.token });
    const name = row.querySelector("th").textContent;
    forget(row);
    if (!result.ok) {
      say(`${name} cannot be resumed: ${result.message}.`);
      if (!current && !heldSlot.querySelector("tr[data-task]")) moveOn();
      return;
    }
    const resumed = build(result.data);
    if (current && !current.lost) ahead.unshift(current);
    clearInterval(emptyPoll);
    show(resumed);
    say(`${name} is back on screen.`);
    topUp();
  }

  async function releaseHeld(task, row) {
    const result = await post(`/review/tasks/${task.id}/release`, { token: task.token });
    const name = row.querySelector("th").textContent;
    if (!result.ok && result.status !== 409 && result.status !== 404) {
      say(`${name} was not released: ${result.message}.`);
      return;
    }
    forget(row); // released, or not held any more (expired, taken back): either way not this reviewer's now
    say(result.ok ? `${name} was given back to its queue.` : `${name} is not yours any more: ${result.message}.`);
    if (!current) moveOn(); else topUp();
  }

  // ---- leases: renew a third of the way through, show the time left ----------------------------------------
  function held() {
    const tasks = [...ahead];
    if (current && !current.lost) tasks.push(current);
    if (pending) tasks.push(pending.task);
    return tasks;
  }

  async function renew(task) {
    task.lastBeat = performance.now();
    const result = await post(`/review/tasks/${task.id}/heartbeat`, { token: task.token });
    if (result.ok) { task.deadline = performance.now() + task.ttl * 1000; return; }
    if (result.status === 409 || result.status === 404) {
      if (task === current) markLost(task, result.message);
      else if (ahead.includes(task)) ahead = ahead.filter((t) => t !== task); // never shown: nothing to keep
    }
  }

  function tick() {
    const now = performance.now();
    for (const task of held()) {
      if (now - task.lastBeat >= (task.ttl * 1000) / 3) renew(task);
    }
    if (!current) return;
    const left = Math.max(0, Math.round((current.deadline - now) / 1000));
    const lease = current.el.querySelector(".lease");
    lease.querySelector(".lease-time").textContent = current.lost
      ? "lost" : `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
    lease.classList.toggle("low", current.lost || left < 30);
  }
  setInterval(tick, 1000);

  // ---- keyboard ---------------------------------------------------------------------------------------------
  function typing(target) {
    return target instanceof HTMLTextAreaElement || target instanceof HTMLInputElement;
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    if (help.open || skipDialog.open) return; // dialogs handle their own keys (Esc closes)
    const target = event.target;
    if (typing(target)) {
      if (event.key === "Escape") { target.blur(); event.preventDefault(); }
      else if (event.key === "Enter" && !event.shiftKey && target.classList.contains("comment")) {
        event.preventDefault();
        commit();
      }
      return;
    }
    const key = event.key;
    if (/^[0-9]$/.test(key)) { // each label button names its key (1-9 by position, or the digit it stands for)
      const button = current && current.el.querySelector(`.label-button[data-key="${key}"]`);
      if (button) choose(current, button.dataset.label);
    } else if (key === "Enter") {
      const other = target instanceof HTMLButtonElement && !target.classList.contains("label-button");
      if (other || target instanceof HTMLAnchorElement) return; // let Enter activate the focused control
      commit();
    } else if (key === "u" || key === "U") undo();
    else if (key === "s" || key === "S") openSkip();
    else if (key === "n" || key === "N") moveOn();
    else if (key === "c" || key === "C") { if (current) current.el.querySelector(".comment").focus(); }
    else if (key === "?") help.showModal();
    else return;
    event.preventDefault();
  });

  document.getElementById("help-button").addEventListener("click", () => help.showModal());

  function giveBack(task) { // release a held task ({id, token}); sent even as the page goes away
    return post(`/review/tasks/${task.id}/release`, { token: task.token }, true);
  }

  // Leaving the page: send a held answer at once, give back tasks not decided.
  function leave() {
    leaving = true;
    const sent = [...givingBack];
    if (pending) sent.push(flush(true));
    for (const task of [...ahead, ...(current && !current.lost ? [current] : [])]) {
      sent.push(giveBack(task));
    }
    ahead = [];
    current = null;
    return Promise.all(sent);
  }
  window.addEventListener("pagehide", leave);
  // Logging out ends the session, and the page after a switch of queue claims at once: in both cases, first let
  // the requests on their way arrive (a prefetch may be bringing a task) and give every task back (at most 2 s).
  async function leaveFully() {
    leaving = true;
    const wait = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });
    await Promise.race([Promise.allSettled([...inflight]), wait(2000)]);
    await Promise.race([leave(), wait(2000)]);
  }
  for (const form of document.querySelectorAll('form[action="/logout"], form.work-on')) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      await leaveFully();
      form.submit();
    });
  }

  // For tests and for scripts that drive the page: a read-only look at its state.
  window.signoffReview = {
    state: () => ({
      current: current && { id: current.id, caseId: current.caseId, lost: current.lost, label: current.label },
      ahead: ahead.map((t) => t.id), pending: pending && pending.task.id, busy, fetching,
      heldElsewhere: [...heldSlot.querySelectorAll("tr[data-task]")].map((row) => Number(row.dataset.task)),
    }),
  };

  // Tasks held from another page come first: the reviewer resumes or releases them. A page that is going away
  // may still be giving its tasks back, so the list is read again a moment later. Otherwise the first task, then
  // one more held behind it (moveOn), so that the first Enter does not wait either.
  refreshHeld().then((count) => {
    if (!count) { moveOn(); return; }
    stuck("You hold tasks from another page, listed above: resume or release each, or press N for a new task.");
    setTimeout(() => { if (!current && !busy) refreshHeld().then((left) => { if (!left && !current) moveOn(); }); }, 2000);
  });
})();
