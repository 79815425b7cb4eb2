/**
 * The status server's events page (`/events`): the recent events of the graph's local-store
 * nodes, newest first, with their snapshot thumbnails. It polls `/api/events` every 2 s and
 * keeps rows it already shows (their images are not fetched again). A token given to the page
 * as `?token=` is passed on to the API and the images.
 *
 * Kept in a module rather than an .html file so it ships inside dist/ with the server.
 * Rows carry `data-event-id`, cells `data-field`, and `body[data-ready]` is set after the first
 * answer: the browser test reads those.
 */
export const EVENTS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>graphrun events</title>
<link rel="icon" href="data:,">
<style>
  :root { --bg: #f4f6f9; --panel: #fff; --ink: #1d2430; --muted: #667085; --line: #d9dee7;
    --info: #1f8f4e; --warn: #d97706; --critical: #c62828;
    --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; }
  * { box-sizing: border-box; }
  body { margin: 0; background: var(--bg); color: var(--ink);
    font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
  header { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 22px; padding: 12px 20px;
    background: var(--panel); border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 5; }
  header h1 { font-size: 17px; margin: 0; font-weight: 650; }
  header a { color: #2f5fb3; }
  header label { color: var(--muted); }
  header select { font: inherit; padding: 2px 4px; }
  #updated { margin-left: auto; color: var(--muted); }
  main { padding: 16px 20px 32px; }
  #banner { background: #fdecec; border: 1px solid var(--critical); color: #7f1010; border-radius: 6px;
    padding: 9px 14px; margin-bottom: 14px; font-weight: 600; }
  #empty { color: var(--muted); padding: 20px; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; }
  [hidden] { display: none !important; }
  table { border-collapse: collapse; width: 100%; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; }
  th, td { text-align: left; padding: 8px 12px; border-bottom: 1px solid var(--line); vertical-align: middle; }
  th { font-size: 11px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); font-weight: 600; }
  td.thumb { width: 176px; }
  td.thumb img { display: block; width: 160px; height: auto; min-height: 40px; background: #e6e9ef; border-radius: 4px; }
  td.thumb .none { color: #98a2b3; }
  td.mono { font-family: var(--mono); font-size: 12px; }
  .risk { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 11px; font-weight: 650; color: #fff; }
  .risk.info { background: var(--info); } .risk.warn { background: var(--warn); } .risk.critical { background: var(--critical); }
  .zone { display: inline-block; background: #eef2f7; border-radius: 3px; padding: 0 5px; margin: 1px 3px 1px 0; font-size: 12px; }
  .dim { color: #98a2b3; }
</style>
</head>
<body>
<header>
  <h1>Events</h1>
  <a id="status-link" href="/">status page</a>
  <label>stream <select id="stream"><option value="">all</option></select></label>
  <span id="count"></span>
  <span id="updated">loading…</span>
</header>
<main>
  <div id="banner" role="alert" hidden></div>
  <div id="empty" hidden></div>
  <table id="table" hidden>
    <thead><tr><th>Snapshot</th><th>Time</th><th>Stream</th><th>Type</th><th>Risk</th><th>Object</th><th>Track</th><th>Zones</th></tr></thead>
    <tbody id="rows"></tbody>
  </table>
</main>
<script>
(function () {
  'use strict';
  var LIMIT = 100, EVERY_MS = 2000;
  var token = new URLSearchParams(location.search).get('token');
  var rows = new Map(); // event_id -> tr
  var streams = new Set();
  var timer = null, gen = 0;
  function $(id) { return document.getElementById(id); }
  function withToken(url) {
    return token == null ? url : url + (url.indexOf('?') < 0 ? '?' : '&') + 'token=' + encodeURIComponent(token);
  }
  $('status-link').search = location.search;
  function cell(tr, field, cls) {
    var td = document.createElement('td');
    td.dataset.field = field;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }
  function text(td, s) { td.textContent = s == null || s === '' ? '–' : String(s); }
  function fmtTime(iso) {
    var d = new Date(iso);
    return isNaN(d.getTime()) ? iso : d.toLocaleString();
  }
  function makeRow(item) {
    var e = item.event;
    var tr = document.createElement('tr');
    tr.dataset.eventId = e.event_id;
    var th = cell(tr, 'snapshot', 'thumb');
    if (item.snapshot_url) {
      var a = document.createElement('a');
      a.href = withToken(item.snapshot_url);
      a.target = '_blank';
      a.rel = 'noopener';
      var img = document.createElement('img');
      img.loading = 'lazy';
      img.alt = e.event_type + ' on ' + e.stream_id;
      img.src = withToken(item.snapshot_url);
      a.appendChild(img);
      th.appendChild(a);
    } else {
      var none = document.createElement('span');
      none.className = 'none';
      none.textContent = 'no snapshot';
      th.appendChild(none);
    }
    var t = cell(tr, 'time', 'mono');
    text(t, fmtTime(e.timestamp_utc));
    t.title = e.timestamp_utc + ' (stored ' + item.stored_at + ')';
    text(cell(tr, 'stream'), e.stream_id);
    text(cell(tr, 'type'), e.event_type);
    var r = cell(tr, 'risk');
    var badge = document.createElement('span');
    badge.className = 'risk ' + e.risk_level;
    badge.textContent = e.risk_level;
    r.appendChild(badge);
    var label = e.category === 'wildlife' && e.species ? e.species : e.label;
    var detail = typeof e.confidence === 'number' ? ' ' + Math.round(e.confidence * 100) + '%' : '';
    text(cell(tr, 'object'), label + detail);
    text(cell(tr, 'track'), '#' + e.track_id);
    var z = cell(tr, 'zones');
    if (e.zones && e.zones.length) {
      e.zones.forEach(function (name) {
        var s = document.createElement('span');
        s.className = 'zone';
        s.textContent = name;
        z.appendChild(s);
      });
    } else {
      z.innerHTML = '<span class="dim">–</span>';
    }
    return tr;
  }
  function render(data) {
    var body = $('rows');
    var seen = new Set();
    data.events.forEach(function (item) {
      var id = item.event.event_id;
      seen.add(id);
      if (!streams.has(item.event.stream_id)) {
        streams.add(item.event.stream_id);
        var o = document.createElement('option');
        o.value = o.textContent = item.event.stream_id;
        $('stream').appendChild(o);
      }
      var tr = rows.get(id);
      if (!tr) { tr = makeRow(item); rows.set(id, tr); }
      body.appendChild(tr); // appending an existing row moves it: order follows the answer
    });
    rows.forEach(function (tr, id) { if (!seen.has(id)) { tr.remove(); rows.delete(id); } });
    var n = data.events.length;
    $('table').hidden = n === 0;
    var empty = $('empty');
    empty.hidden = n > 0;
    if (n === 0) {
      empty.textContent = data.stores.length === 0
        ? 'No local-store node is running in this graph: add one to keep events here.'
        : 'No events stored yet.';
    }
    $('count').textContent = n + (n === LIMIT ? '+' : '') + ' event' + (n === 1 ? '' : 's') +
      (data.stores.length ? ' in ' + data.stores.join(', ') : '');
  }
  function poll() {
    clearTimeout(timer);
    var mine = ++gen; // an answer to an older request (before a filter change) is dropped
    var stream = $('stream').value;
    var url = '/api/events?limit=' + LIMIT + (stream ? '&stream=' + encodeURIComponent(stream) : '');
    fetch(withToken(url), { cache: 'no-store' }).then(function (res) {
      if (!res.ok) throw new Error(res.status === 401 ? 'unauthorized: open this page with ?token=…' : 'HTTP ' + res.status);
      return res.json();
    }).then(function (data) {
      if (mine !== gen) return;
      render(data);
      $('banner').hidden = true;
      $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
      document.body.dataset.ready = 'true';
    }).catch(function (err) {
      var b = $('banner');
      b.textContent = 'cannot load events: ' + err.message;
      b.hidden = false;
    }).then(function () { if (mine === gen) timer = setTimeout(poll, EVERY_MS); });
  }
  $('stream').addEventListener('change', function () {
    rows.forEach(function (tr) { tr.remove(); });
    rows.clear();
    poll();
  });
  poll();
})();
</script>
</body>
</html>
`;
