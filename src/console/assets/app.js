// gregor console: a hash-routed page over /api/*. No framework, no build step.

const app = document.getElementById('app');
let pageTimer = null;
let routeSerial = 0;

// ---------- helpers ----------

function esc(v) {
  return String(v ?? '').replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

function fmtNum(n, digits = 0) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  return Number(n).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

function fmtBytes(n, digits) {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${fmtNum(n, digits ?? (i ? 1 : 0))} ${units[i]}`;
}

function fmtTime(ms) {
  if (ms === null || ms === undefined || ms < 0) return '–';
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString().replace('T', ' ').replace('Z', ' UTC');
}

async function api(path) {
  const resp = await fetch(`/api/${path}`, { headers: { Accept: 'application/json' } });
  let body;
  try { body = await resp.json(); } catch (e) { body = { error: `HTTP ${resp.status}` }; }
  if (!resp.ok) throw new Error(body.error || `HTTP ${resp.status}`);
  return body;
}

function showError(err) {
  app.innerHTML = `<div class="error" id="error">${esc(err.message || err)}</div>`;
}

function badge(text, kind) { return `<span class="badge ${kind}">${esc(text)}</span>`; }

function setNav(active) {
  document.querySelectorAll('#nav a').forEach(a => a.classList.toggle('active', a.dataset.nav === active));
}

function list(ids) { return ids && ids.length ? ids.join(', ') : '–'; }

// Pretty JSON with light colouring; the text stays the same as JSON.stringify(v, null, 2).
function prettyJson(value) {
  const text = JSON.stringify(value, null, 2);
  return esc(text).replace(
    /(&quot;(?:[^&]|&(?!quot;))*?&quot;)(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g,
    (m, str, colon, lit, num) => {
      if (str) return colon ? `<span class="k">${str}</span>${colon}` : `<span class="s">${str}</span>`;
      if (lit) return `<span class="b">${lit}</span>`;
      return `<span class="n">${num}</span>`;
    });
}

// A record's key or value: JSON pretty-printed, text as is, binary as hex + base64.
function renderBytes(b) {
  if (b === null || b === undefined) return '<pre class="null muted">null</pre>';
  if (b.truncated) {
    const shown = b.encoding === 'utf8' ? b.text : b.hex;
    return `<pre class="truncated">${esc(shown)}</pre><p class="muted small">showing the start of ${fmtBytes(b.size)}</p>`;
  }
  if (b.encoding === 'utf8') {
    const t = b.text.trim();
    if ((t.startsWith('{') && t.endsWith('}')) || (t.startsWith('[') && t.endsWith(']'))) {
      try { return `<pre class="json">${prettyJson(JSON.parse(t))}</pre>`; } catch (e) { /* not JSON */ }
    }
    return `<pre class="text">${esc(b.text)}</pre>`;
  }
  return `<pre class="binary" title="base64: ${esc(b.base64)}">hex ${esc(b.hex)}\nbase64 ${esc(b.base64)}</pre>`;
}

// ---------- pages ----------

async function overview() {
  setNav('overview');
  const o = await api('overview');
  document.getElementById('cluster-id').textContent = o.cluster_id ? `cluster ${o.cluster_id}` : '';
  const health = (n) => n === 0 ? 'good' : 'bad';
  app.innerHTML = `
    <h1>Cluster overview</h1>
    <div class="cards" id="overview">
      <div class="card"><div class="label">Brokers</div><div class="value" id="broker-count">${o.brokers.length}</div></div>
      <div class="card"><div class="label">Controller</div><div class="value" id="controller">${o.controller ?? '–'}</div></div>
      <div class="card"><div class="label">Topics</div><div class="value" id="topic-count">${o.topics}</div></div>
      <div class="card"><div class="label">Partitions</div><div class="value" id="partition-count">${o.partitions}</div></div>
      <div class="card ${health(o.under_replicated_partitions)}"><div class="label">Under-replicated</div><div class="value" id="under-replicated">${o.under_replicated_partitions}</div></div>
      <div class="card ${health(o.offline_partitions)}"><div class="label">Offline partitions</div><div class="value" id="offline">${o.offline_partitions}</div></div>
    </div>
    <h2>Brokers</h2>
    <div class="panel"><table id="brokers-table">
      <thead><tr><th>ID</th><th>Host</th><th class="num">Port</th><th>Rack</th><th class="num">Leaders</th><th class="num">Replicas</th><th>Role</th></tr></thead>
      <tbody>${o.brokers.map(b => `
        <tr data-broker="${b.id}"><td>${b.id}</td><td class="mono">${esc(b.host)}</td><td class="num">${b.port}</td>
        <td>${esc(b.rack ?? '–')}</td><td class="num">${b.leaders}</td><td class="num">${b.replicas}</td>
        <td>${b.controller ? badge('controller', 'ok') : ''}</td></tr>`).join('')}
      </tbody></table></div>
    <p class="muted small">Cluster id <span class="mono" id="cluster-id-value">${esc(o.cluster_id ?? '–')}</span>; ${o.internal_topics} internal topic(s) not counted above.</p>`;
}

async function topics() {
  setNav('topics');
  const { topics } = await api('topics');
  const rows = topics.map(t => `
    <tr data-topic="${esc(t.name)}">
      <td><a href="#/topics/${encodeURIComponent(t.name)}">${esc(t.name)}</a> ${t.internal ? badge('internal', 'grey') : ''}</td>
      <td class="num">${t.partitions}</td><td class="num">${t.replication_factor}</td>
      <td class="num">${t.under_replicated ? badge(t.under_replicated, 'warn') : '0'}</td>
      <td class="num">${t.offline ? badge(t.offline, 'bad') : '0'}</td>
      <td class="num">${t.messages_per_sec === null || t.messages_per_sec === undefined ? '–' : fmtNum(t.messages_per_sec, 1)}</td>
    </tr>`).join('');
  app.innerHTML = `
    <h1>Topics <span class="muted small">${topics.length}</span></h1>
    <div class="panel"><table id="topics-table">
      <thead><tr><th>Name</th><th class="num">Partitions</th><th class="num">Replication</th><th class="num">Under-replicated</th><th class="num">Offline</th><th class="num">Messages/s</th></tr></thead>
      <tbody>${rows || '<tr><td colspan="6" class="empty">No topics yet.</td></tr>'}</tbody>
    </table></div>`;
}

function recordsQuery(params) {
  const q = new URLSearchParams();
  q.set('partition', params.get('partition') || '0');
  if (params.get('offset')) q.set('offset', params.get('offset'));
  else if (params.get('timestamp')) q.set('timestamp', params.get('timestamp'));
  q.set('limit', params.get('limit') || '50');
  return q.toString();
}

async function topic(name, params) {
  setNav('topics');
  const t = await api(`topics/${encodeURIComponent(name)}`);
  const parts = t.partitions.map(p => `
    <tr data-partition="${p.partition}">
      <td class="num">${p.partition}</td><td class="num">${p.leader ?? badge('none', 'bad')}</td>
      <td>${list(p.replicas)}</td><td>${list(p.isr)} ${p.under_replicated ? badge('under-replicated', 'warn') : ''}</td>
      <td class="num">${fmtNum(p.log_start_offset)}</td><td class="num">${fmtNum(p.log_end_offset)}</td><td class="num">${fmtNum(p.messages)}</td>
    </tr>`).join('');
  const configs = t.configs.map(c => `
    <tr class="${c.default ? '' : 'override'}" data-config="${esc(c.name)}">
      <td>${esc(c.name)}</td><td class="mono">${c.sensitive ? '<i>hidden</i>' : esc(c.value ?? 'null')}</td>
      <td>${c.default ? badge('default', 'grey') : badge('override', 'ok')} <span class="muted small">${esc(c.source)}</span></td>
    </tr>`).join('');
  const partition = params.get('partition') || '0';
  const tsValue = params.get('timestamp') || '';
  app.innerHTML = `
    <p class="muted small"><a href="#/topics">Topics</a> / ${esc(t.name)}</p>
    <h1 id="topic-name">${esc(t.name)} ${t.internal ? badge('internal', 'grey') : ''}</h1>
    <div class="cards">
      <div class="card"><div class="label">Partitions</div><div class="value">${t.partitions.length}</div></div>
      <div class="card"><div class="label">Replication factor</div><div class="value">${t.replication_factor}</div></div>
      <div class="card ${t.under_replicated ? 'bad' : 'good'}"><div class="label">Under-replicated</div><div class="value">${t.under_replicated}</div></div>
    </div>
    <h2>Partitions</h2>
    <div class="panel"><table id="partitions-table">
      <thead><tr><th class="num">Partition</th><th class="num">Leader</th><th>Replicas</th><th>In-sync replicas</th><th class="num">Log start</th><th class="num">Log end</th><th class="num">Messages</th></tr></thead>
      <tbody>${parts}</tbody></table></div>
    <h2>Records</h2>
    <form class="controls" id="records-form">
      <label>Partition <select id="rec-partition">${t.partitions.map(p => `<option value="${p.partition}" ${String(p.partition) === partition ? 'selected' : ''}>${p.partition}</option>`).join('')}</select></label>
      <label>From offset <input type="number" id="rec-offset" min="0" placeholder="newest" value="${esc(params.get('offset') || '')}"></label>
      <label>or from time (ms or date) <input type="text" id="rec-timestamp" placeholder="2026-12-07T12:00:00Z" value="${esc(tsValue)}"></label>
      <label>Limit <input type="number" id="rec-limit" min="1" max="500" value="${esc(params.get('limit') || '50')}"></label>
      <button type="submit">Show records</button>
    </form>
    <div id="records" class="records"><p class="loading">Loading records…</p></div>
    <h2>Configs <span class="muted small">overrides highlighted</span></h2>
    <div class="panel"><table id="configs-table" class="configs">
      <thead><tr><th>Name</th><th>Value</th><th>Source</th></tr></thead>
      <tbody>${configs}</tbody></table></div>`;
  document.getElementById('records-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    q.set('partition', document.getElementById('rec-partition').value);
    const off = document.getElementById('rec-offset').value.trim();
    let ts = document.getElementById('rec-timestamp').value.trim();
    if (off) q.set('offset', off);
    else if (ts) {
      if (!/^-?\d+$/.test(ts)) {
        const parsed = Date.parse(ts);
        if (Number.isNaN(parsed)) { document.getElementById('records').innerHTML = `<div class="error">Not a time: ${esc(ts)}</div>`; return; }
        ts = String(parsed);
      }
      q.set('timestamp', ts);
    }
    q.set('limit', document.getElementById('rec-limit').value || '50');
    location.hash = `#/topics/${encodeURIComponent(name)}?${q}`;
  });
  await loadRecords(name, params);
}

async function loadRecords(name, params) {
  const box = document.getElementById('records');
  let r;
  try {
    r = await api(`topics/${encodeURIComponent(name)}/records?${recordsQuery(params)}`);
  } catch (e) {
    box.innerHTML = `<div class="error" id="records-error">${esc(e.message)}</div>`;
    return;
  }
  const head = `<p class="muted small" id="records-summary">Partition ${r.partition}: ${r.records.length} record(s) from offset ${fmtNum(r.from)} (log ${fmtNum(r.log_start_offset)} – ${fmtNum(r.log_end_offset)})</p>`;
  if (!r.records.length) { box.innerHTML = head + '<div class="empty">No records here.</div>'; return; }
  box.innerHTML = head + r.records.map(rec => `
    <div class="record" data-offset="${rec.offset}" data-partition="${rec.partition}">
      <div class="meta"><span>offset <b>${rec.offset}</b></span><span>partition <b>${rec.partition}</b></span>
        <span>${esc(rec.timestamp_type)} <b>${esc(fmtTime(rec.timestamp))}</b> <span class="mono">(${rec.timestamp})</span></span>
        <span>value ${fmtBytes(rec.value ? rec.value.size : 0)}</span></div>
      <div class="field key"><span class="name">key</span>${renderBytes(rec.key)}</div>
      <div class="field value"><span class="name">value</span>${renderBytes(rec.value)}</div>
      ${rec.headers.length ? `<div class="field"><span class="name">headers</span><div class="headers">${rec.headers.map(h => `<div>${esc(h.key)} = ${h.value === null ? 'null' : esc(h.value.text ?? h.value.hex)}</div>`).join('')}</div></div>` : ''}
    </div>`).join('');
}

async function groups() {
  setNav('groups');
  const { groups } = await api('groups');
  const state = (s) => badge(s, s === 'Stable' ? 'ok' : s === 'Empty' ? 'grey' : s === 'Dead' ? 'bad' : 'warn');
  const rows = groups.map(g => `
    <tr data-group="${esc(g.group_id)}">
      <td><a href="#/groups/${encodeURIComponent(g.group_id)}">${esc(g.group_id)}</a></td>
      <td>${state(g.state)}</td><td class="num">${g.members}</td><td>${esc(g.protocol || '–')}</td>
      <td class="num">${g.coordinator}</td>
      <td class="num" data-lag="${g.lag ?? ''}">${g.lag === null || g.lag === undefined ? '–' : fmtNum(g.lag)}</td>
    </tr>`).join('');
  app.innerHTML = `
    <h1>Consumer groups <span class="muted small">${groups.length}</span></h1>
    <div class="panel"><table id="groups-table">
      <thead><tr><th>Group</th><th>State</th><th class="num">Members</th><th>Assignor</th><th class="num">Coordinator</th><th class="num">Total lag</th></tr></thead>
      <tbody>${rows || '<tr><td colspan="6" class="empty">No consumer groups.</td></tr>'}</tbody>
    </table></div>`;
}

async function group(id) {
  setNav('groups');
  const g = await api(`groups/${encodeURIComponent(id)}`);
  const rows = g.partitions.map(p => `
    <tr data-topic="${esc(p.topic)}" data-partition="${p.partition}">
      <td><a href="#/topics/${encodeURIComponent(p.topic)}">${esc(p.topic)}</a></td><td class="num">${p.partition}</td>
      <td class="num">${fmtNum(p.committed_offset)}</td><td class="num">${fmtNum(p.log_end_offset)}</td>
      <td class="num lag" data-lag="${p.lag ?? ''}">${p.lag === null ? '–' : fmtNum(p.lag)}</td>
      <td class="mono small">${esc(p.client_id ?? '–')}</td><td class="mono small">${esc(p.host ?? '–')}</td>
    </tr>`).join('');
  const members = g.members.map(m => `
    <tr data-member="${esc(m.member_id)}"><td class="mono small">${esc(m.member_id)}</td><td>${esc(m.client_id)}</td><td class="mono">${esc(m.host)}</td>
    <td>${m.assignment.map(a => `${esc(a.topic)}-${a.partition}`).join(', ') || '–'}</td></tr>`).join('');
  app.innerHTML = `
    <p class="muted small"><a href="#/groups">Consumer groups</a> / ${esc(g.group_id)}</p>
    <h1 id="group-name">${esc(g.group_id)}</h1>
    <div class="cards" id="group-detail">
      <div class="card"><div class="label">State</div><div class="value" id="group-state">${esc(g.state)}</div></div>
      <div class="card"><div class="label">Members</div><div class="value">${g.members.length}</div></div>
      <div class="card"><div class="label">Assignor</div><div class="value">${esc(g.protocol || '–')}</div></div>
      <div class="card ${g.total_lag ? 'bad' : 'good'}"><div class="label">Total lag</div><div class="value" id="total-lag" data-lag="${g.total_lag}">${fmtNum(g.total_lag)}</div></div>
    </div>
    <h2>Lag per partition</h2>
    <div class="panel"><table id="lag-table">
      <thead><tr><th>Topic</th><th class="num">Partition</th><th class="num">Committed</th><th class="num">Log end</th><th class="num">Lag</th><th>Client id</th><th>Host</th></tr></thead>
      <tbody>${rows || '<tr><td colspan="7" class="empty">No committed offsets.</td></tr>'}</tbody></table></div>
    <h2>Members</h2>
    <div class="panel"><table id="members-table">
      <thead><tr><th>Member id</th><th>Client id</th><th>Host</th><th>Assignment</th></tr></thead>
      <tbody>${members || '<tr><td colspan="4" class="empty">No active members.</td></tr>'}</tbody></table></div>
    <p class="muted small">Coordinator: broker ${g.coordinator.id} (${esc(g.coordinator.host)}:${g.coordinator.port})</p>`;
}

// ---------- charts ----------

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// series: [{name, points: [[timeMs, value]]}]
function lineChart(id, title, series, format) {
  const W = 1000, H = 220, L = 64, R = 12, T = 10, B = 26;
  const all = series.flatMap(s => s.points);
  if (!all.length) {
    return `<div class="chart" id="${id}"><h3>${esc(title)}</h3><div class="empty">Waiting for samples (one every 2 s)…</div></div>`;
  }
  const t1 = Math.max(...all.map(p => p[0]));
  const t0 = Math.min(Math.min(...all.map(p => p[0])), t1 - 60000);
  const vmax = niceMax(Math.max(...all.map(p => p[1])));
  const x = t => L + (W - L - R) * (t - t0) / Math.max(1, t1 - t0);
  const y = v => T + (H - T - B) * (1 - v / vmax);
  let grid = '', axis = '';
  for (let i = 0; i <= 4; i++) {
    const v = vmax * i / 4;
    grid += `<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}"/>`;
    axis += `<text x="${L - 6}" y="${y(v) + 4}" text-anchor="end">${esc(format(v, 2))}</text>`;
  }
  for (let i = 0; i <= 4; i++) {
    const t = t0 + (t1 - t0) * i / 4;
    const d = new Date(t);
    const label = `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}:${String(d.getSeconds()).padStart(2, '0')}`;
    axis += `<text x="${x(t)}" y="${H - 6}" text-anchor="${i === 0 ? 'start' : i === 4 ? 'end' : 'middle'}">${label}</text>`;
  }
  const lines = series.map((s, i) => {
    const c = PALETTE[i % PALETTE.length];
    const pts = s.points.map(p => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ');
    return `<polyline fill="none" stroke="${c}" stroke-width="2" stroke-linejoin="round" points="${pts}" data-series="${esc(s.name)}"/>`;
  }).join('');
  const legend = series.map((s, i) => {
    const last = s.points.length ? s.points[s.points.length - 1][1] : null;
    return `<span data-series="${esc(s.name)}"><i style="background:${PALETTE[i % PALETTE.length]}"></i>${esc(s.name)} <b>${last === null ? '–' : esc(format(last))}</b></span>`;
  }).join('');
  return `<div class="chart" id="${id}"><h3>${esc(title)}</h3>
    <svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img" aria-label="${esc(title)}">
      <g class="grid">${grid}</g><line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#c5cfd9"/>
      <g class="axis">${axis}</g>${lines}</svg>
    <div class="legend">${legend}</div></div>`;
}

function keyed(points, field) {
  const names = new Set();
  points.forEach(p => Object.keys(p[field] || {}).forEach(k => names.add(k)));
  return [...names].sort().slice(0, 10).map(name => ({
    name,
    points: points.filter(p => p[field] && p[field][name] !== undefined).map(p => [p.time, p[field][name]]),
  }));
}

async function charts() {
  setNav('charts');
  const draw = async () => {
    const s = await api('series');
    const pts = s.points;
    const bytes = [
      { name: 'bytes in/s', points: pts.filter(p => p.bytes_in !== null).map(p => [p.time, p.bytes_in]) },
      { name: 'bytes out/s', points: pts.filter(p => p.bytes_out !== null).map(p => [p.time, p.bytes_out]) },
    ];
    const el = document.getElementById('charts');
    if (!el) return;
    el.innerHTML =
      lineChart('chart-messages', 'Messages per second, by topic', keyed(pts, 'topics'), (v, d) => fmtNum(v, d ?? 1)) +
      lineChart('chart-bytes', 'Bytes per second (brokers\' metrics)', bytes, (v, d) => `${fmtBytes(v, d)}/s`) +
      lineChart('chart-lag', 'Consumer lag, by group', keyed(pts, 'groups'), (v, d) => fmtNum(v, d ?? 0));
  };
  app.innerHTML = `<h1>Live charts <span class="muted small">sampled every 2 s, last 10 minutes</span></h1><div class="charts" id="charts"></div>`;
  await draw();
  pageTimer = setInterval(() => { draw().catch(showError); }, 2000);
}

// ---------- router ----------

async function route() {
  if (pageTimer) { clearInterval(pageTimer); pageTimer = null; }
  const serial = ++routeSerial;
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, qs] = hash.split('?');
  const params = new URLSearchParams(qs || '');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  app.innerHTML = '<p class="loading">Loading…</p>';
  try {
    if (parts.length === 0 || parts[0] === 'overview') await overview();
    else if (parts[0] === 'topics' && parts.length === 1) await topics();
    else if (parts[0] === 'topics') await topic(parts.slice(1).join('/'), params);
    else if (parts[0] === 'groups' && parts.length === 1) await groups();
    else if (parts[0] === 'groups') await group(parts.slice(1).join('/'));
    else if (parts[0] === 'charts') await charts();
    else throw new Error(`No page ${hash}`);
  } catch (e) {
    if (serial === routeSerial) showError(e);
  }
}

window.addEventListener('hashchange', route);
route();
