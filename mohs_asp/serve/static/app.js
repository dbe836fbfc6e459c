// The page for billing staff: a case in (pasted, uploaded, or from the form), POST /explain,
// the decision, each line's outcome and why, and each lesion's indications shown.
// Values from the case are only ever set as text (textContent), never as HTML.
"use strict";

const FLAGS = ["recurrent", "incompletely_excised", "previously_irradiated", "rapid_growth", "high_risk_metastasis", "deep_structures"];
const DECISIONS = { covered: "COVERED", not_covered: "NOT COVERED", no_mms: "NO MMS LINE", invalid: "INVALID" };
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function status(text) { $("status").textContent = text; }

// -- the case in ------------------------------------------------------------------------------

function mediaType(text, name) {
  if (name && /\.ya?ml$/i.test(name)) return "application/yaml";
  if (name && /\.json$/i.test(name)) return "application/json";
  return /^\s*[{[]/.test(text) ? "application/json" : "application/yaml";
}

async function decide(body, type) {
  status("Deciding…");
  let response;
  try {
    response = await fetch("/explain", { method: "POST", headers: { "Content-Type": type }, body });
  } catch (e) {
    status("The service cannot be reached: " + e.message);
    return;
  }
  let answer;
  try { answer = await response.json(); } catch (e) { answer = null; }
  if (answer && (response.status === 200 || response.status === 422)) {
    show(answer);
    status("");
  } else {
    $("result").hidden = true;
    status(`The service answered ${response.status}: ` + (answer && answer.message ? answer.message : response.statusText));
  }
}

function lesionRow(values = {}) {
  const tr = el("tr");
  const input = (name, attrs = {}) => el("input", { name, ...attrs, value: values[name] ?? "" });
  const borders = el("select", { name: "borders" }, el("option", { value: "" }, "not documented"),
    el("option", { value: "well_defined" }, "well defined"), el("option", { value: "ill_defined" }, "ill defined"));
  const flags = el("td", { class: "flags" });
  for (const flag of FLAGS) {
    flags.append(el("label", {}, el("input", { type: "checkbox", name: flag }), " " + flag.replaceAll("_", " ")));
  }
  const remove = el("button", { type: "button", "aria-label": "Remove this lesion" }, "✕");
  remove.addEventListener("click", () => { tr.remove(); refreshLesionChoices(); });
  tr.append(el("td", {}, input("id", { size: 4 })), el("td", {}, input("diagnosis", { placeholder: "C44.311" })),
    el("td", {}, input("site", { list: "sites", placeholder: "nose" })), el("td", {}, input("size_cm", { inputmode: "decimal", size: 5 })),
    el("td", {}, borders), el("td", {}, input("histology", { placeholder: "nodular, infiltrative" })), flags, el("td", {}, remove));
  tr.querySelector('[name="id"]').addEventListener("input", refreshLesionChoices);
  $("f-lesions").tBodies[0].append(tr);
  refreshLesionChoices();
}

function lineRow(values = {}) {
  const tr = el("tr");
  const number = $("f-lines").tBodies[0].rows.length + 1;
  const remove = el("button", { type: "button", "aria-label": "Remove this line" }, "✕");
  remove.addEventListener("click", () => tr.remove());
  tr.append(el("td", {}, el("input", { name: "line", value: values.line ?? number, size: 3, inputmode: "numeric" })),
    el("td", {}, el("input", { name: "code", value: values.code ?? "", placeholder: "17311", size: 6 })),
    el("td", {}, el("select", { name: "lesion" })),
    el("td", {}, el("input", { name: "units", value: values.units ?? "", size: 3, inputmode: "numeric" })),
    el("td", {}, remove));
  $("f-lines").tBodies[0].append(tr);
  refreshLesionChoices();
}

function refreshLesionChoices() {
  const ids = [...$("f-lesions").tBodies[0].rows].map((tr) => tr.querySelector('[name="id"]').value.trim()).filter(Boolean);
  for (const select of $("f-lines").querySelectorAll('select[name="lesion"]')) {
    const was = select.value;
    select.replaceChildren(el("option", { value: "" }, "(none)"), ...ids.map((id) => el("option", { value: id }, id)));
    select.value = ids.includes(was) ? was : (ids[0] ?? "");
  }
}

// The form as a case document. Numbers go as JSON numbers written exactly as typed (no float
// rounding: "1.99999999999999999" stays itself), so the service reads them as check would.
function formCase() {
  const parts = [];
  const field = (k, v) => parts.push(JSON.stringify(k) + ":" + v);
  field("id", JSON.stringify($("f-id").value));
  field("date_of_service", JSON.stringify($("f-date").value));
  if ($("f-immuno").value) field("patient", `{"immunosuppressed":${$("f-immuno").value}}`);
  const lesions = [...$("f-lesions").tBodies[0].rows].map((tr) => {
    const get = (n) => tr.querySelector(`[name="${n}"]`);
    const out = [`"id":${JSON.stringify(get("id").value.trim())}`, `"diagnosis":${JSON.stringify(get("diagnosis").value.trim())}`,
      `"site":${JSON.stringify(get("site").value.trim())}`];
    const size = get("size_cm").value.trim();
    if (size) out.push(`"size_cm":${/^[0-9]+(\.[0-9]+)?$/.test(size) ? size : JSON.stringify(size)}`);
    if (get("borders").value) out.push(`"borders":${JSON.stringify(get("borders").value)}`);
    const histology = get("histology").value.split(",").map((s) => s.trim()).filter(Boolean);
    if (histology.length) out.push(`"histology":${JSON.stringify(histology)}`);
    for (const flag of FLAGS) if (get(flag).checked) out.push(`"${flag}":true`);
    return "{" + out.join(",") + "}";
  });
  field("lesions", "[" + lesions.join(",") + "]");
  const lines = [...$("f-lines").tBodies[0].rows].map((tr) => {
    const get = (n) => tr.querySelector(`[name="${n}"]`).value.trim();
    const out = [];
    const number = get("line");
    if (number) out.push(`"line":${/^[0-9]+$/.test(number) ? number : JSON.stringify(number)}`);
    out.push(`"code":${JSON.stringify(get("code"))}`);
    if (get("lesion")) out.push(`"lesion":${JSON.stringify(get("lesion"))}`);
    const units = get("units");
    if (units) out.push(`"units":${/^[0-9]+$/.test(units) ? units : JSON.stringify(units)}`);
    return "{" + out.join(",") + "}";
  });
  field("lines", "[" + lines.join(",") + "]");
  return "{" + parts.join(",") + "}";
}

// -- the answer out ---------------------------------------------------------------------------

function outcomeText(line) {
  return line.outcome === "bundled" ? `bundled into line ${line.into}` : line.outcome.replaceAll("_", " ");
}

function show(answer) {
  $("result").hidden = false;
  const decision = answer.status === "ok" ? answer.decision : "invalid";
  $("decision").textContent = DECISIONS[decision] ?? decision;
  $("decision").className = decision;
  $("case-id").textContent = answer.case ? `Case ${answer.case}` : "Case without a usable id";
  const errors = $("errors");
  errors.replaceChildren();
  $("lines").tBodies[0].replaceChildren();
  $("lesions").replaceChildren();
  if (answer.status !== "ok") {
    $("lines-block").hidden = true;
    errors.append(el("h3", {}, `${answer.errors.length} problem${answer.errors.length === 1 ? "" : "s"} with the case`));
    errors.append(el("ul", {}, ...answer.errors.map((e) => el("li", { class: "error" }, el("code", {}, e.path || "(the case)"), ": " + e.message))));
    return;
  }
  $("lines-block").hidden = answer.lines.length === 0;
  for (const line of answer.lines) {
    const ex = line.explanation || {};
    const cited = ex.rules ? ex.rules : (ex.rule ? [ex] : []);
    const because = (ex.because || []).length ? el("ul", {}, ...ex.because.map((b) => el("li", {}, b))) : "";
    const rules = el("td", {}, ...cited.map((r) => el("div", {}, el("code", {}, r.rule), el("span", { class: "source" }, ` ${r.source}`))));
    if (!cited.length) rules.append(...(line.rules || []).map((r) => el("div", {}, el("code", {}, r))));
    $("lines").tBodies[0].append(el("tr", {}, el("td", {}, line.line), el("td", {}, line.code),
      el("td", { class: "outcome-" + line.outcome }, outcomeText(line)), el("td", {}, because), rules));
  }
  if (answer.lines.length === 0) $("lesions").append(el("p", {}, "No claim lines: a prior-authorization question."));
  for (const lesion of answer.lesions) {
    const box = el("div", { class: "lesion" });
    box.append(el("h3", {}, `Lesion ${lesion.id}: ${lesion.site.replaceAll("_", " ")}, ${lesion.diagnosis}`));
    box.append(el("p", {}, `Medically necessary: ${lesion.medically_necessary ? "yes" : "no"}. `
      + `Diagnosis covered: ${lesion.diagnosis_covered ? "yes" : "no"}.`));
    const list = el("ul", { class: "indications" });
    for (const entry of lesion.explanation || []) {
      list.append(el("li", { class: entry.met ? "met" : "unmet" }, el("strong", {}, entry.indication.replaceAll("_", " ")),
        ": " + entry.because.join("; "), el("span", { class: "source" }, ` (${entry.rule}, ${entry.source})`)));
    }
    box.append(list);
    if ((lesion.would_qualify || []).length) {
      box.append(el("p", {}, "Would qualify with any one of:"));
      box.append(el("ul", {}, ...lesion.would_qualify.map((o) => el("li", {}, o.needs.join(" and "), el("span", { class: "source" }, ` (${o.indication})`)))));
    }
    $("lesions").append(box);
  }
}

// -- wiring -----------------------------------------------------------------------------------

function selectTab(which) {
  for (const name of ["paste", "form"]) {
    $("tab-" + name).setAttribute("aria-selected", String(name === which));
    $(name).hidden = name !== which;
  }
}

async function start() {
  $("tab-paste").addEventListener("click", () => selectTab("paste"));
  $("tab-form").addEventListener("click", () => selectTab("form"));
  $("decide-text").addEventListener("click", () => {
    const text = $("case-text").value;
    decide(text, mediaType(text, $("case-file").dataset.name));
  });
  $("case-file").addEventListener("change", async () => {
    const file = $("case-file").files[0];
    if (!file) return;
    $("case-text").value = await file.text();
    $("case-file").dataset.name = file.name;
    decide($("case-text").value, mediaType($("case-text").value, file.name));
  });
  $("case-text").addEventListener("input", () => { delete $("case-file").dataset.name; });
  $("form").addEventListener("submit", (event) => { event.preventDefault(); decide(formCase(), "application/json"); });
  $("add-lesion").addEventListener("click", () => lesionRow());
  $("add-line").addEventListener("click", () => lineRow());
  $("print").addEventListener("click", () => window.print());
  $("f-date").value = new Date().toISOString().slice(0, 10);
  lesionRow({ id: "A" });
  lineRow({ line: 1, code: "17311" });
  try {
    const [health, schema] = await Promise.all([fetch("/health").then((r) => r.json()), fetch("/schema").then((r) => r.json())]);
    const p = health.policy;
    $("policy").textContent = `Policy ${p.id}${p.version ? " " + p.version : ""}, ${p.rules} rules (digest ${p.digest.slice(0, 12)})`;
    const sites = schema.properties.lesions.items.properties.site.examples || [];
    $("sites").replaceChildren(...sites.map((s) => el("option", { value: s })));
  } catch (e) {
    $("policy").textContent = "The service cannot be reached.";
  }
}

document.addEventListener("DOMContentLoaded", start);
