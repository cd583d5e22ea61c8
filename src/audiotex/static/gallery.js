// The gallery's table and cards, built from the JSON in #gallery-data (see audiotex.gallery.gallery_data).
// Only one page of table rows is in the DOM at a time, and a row's card (players, plot, run record, metrics,
// settings) is built when the row is opened, so 10,000 rows cost one JSON parse and 100 table rows.
// URL: ?q=TEXT presets the id filter, ?sort=COLUMN[&desc] the order, #row-ID opens a row, ?open expands the
// settings lists; ?check opens every row shown and writes which media loaded into #media-check (for tests).
(function () {
  'use strict';
  var PAGE_SIZE = 100;
  var data = JSON.parse(document.getElementById('gallery-data').textContent);
  var query = new URLSearchParams(window.location.search);
  var columns = [{ name: 'id', numeric: false }, { name: 'kind', numeric: false }].concat(data.columns);
  var rows = data.rows;  // [id, kind, cells, media, run values, settings that differ, override keys]
  var box = document.getElementById('filter');
  var count = document.getElementById('count');
  var pageLabel = document.getElementById('page-label');
  var prev = document.getElementById('prev');
  var next = document.getElementById('next');
  var thead = document.querySelector('#rows thead');
  var tbody = document.querySelector('#rows tbody');
  var state = { sort: 0, desc: false, page: 0, opened: {} };
  var shown = [];  // indexes into rows: filtered, then sorted

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') { node.textContent = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(c); } });
    return node;
  }
  function cell(row, c) { return c === 0 ? row[0] : c === 1 ? row[1] : row[2][c - 2]; }
  function display(value) { return value === null || value === undefined ? '\u2014' : String(value); }

  // Sorting: missing values last in either direction; ties keep id order (rows arrive sorted by id). A
  // column with any text in it sorts as text, so numbers and words never compare with each other.
  function order() {
    var c = state.sort, sign = state.desc ? -1 : 1, numeric = columns[c].numeric;
    shown.sort(function (a, b) {
      var x = cell(rows[a], c), y = cell(rows[b], c);
      if (x === null || y === null) { return x === y ? a - b : (x === null ? 1 : -1); }
      if (!numeric) { x = String(x); y = String(y); }
      if (x < y) { return -sign; }
      if (x > y) { return sign; }
      return a - b;
    });
  }
  function filter() {
    var q = box.value.trim().toLowerCase();
    shown = [];
    for (var i = 0; i < rows.length; i += 1) {
      if (rows[i][0].toLowerCase().indexOf(q) !== -1) { shown.push(i); }
    }
    order();
  }

  function header() {
    var tr = el('tr');
    columns.forEach(function (col, c) {
      // <wbr> after underscores lets long metric names wrap instead of widening the table
      var th = el('th', { scope: 'col', 'data-column': col.name, title: 'sort by ' + col.name, tabindex: '0' });
      col.name.split('_').forEach(function (part, i) {
        if (i) { th.appendChild(document.createTextNode('_')); th.appendChild(el('wbr')); }
        th.appendChild(document.createTextNode(part));
      });
      if (c === state.sort) { th.setAttribute('aria-sort', state.desc ? 'descending' : 'ascending'); }
      th.addEventListener('click', function () {
        state.desc = state.sort === c ? !state.desc : false;
        state.sort = c;
        state.page = 0;
        order();
        header();
        render();
        thead.querySelectorAll('th')[c].focus();
      });
      th.addEventListener('keydown', function (event) {  // sortable from the keyboard too
        if (event.key === 'Enter' || event.key === ' ') { event.preventDefault(); th.click(); }
      });
      tr.appendChild(th);
    });
    thead.replaceChildren(tr);
  }

  function render() {
    var pages = Math.max(1, Math.ceil(shown.length / PAGE_SIZE));
    state.page = Math.min(state.page, pages - 1);
    var start = state.page * PAGE_SIZE, end = Math.min(shown.length, start + PAGE_SIZE);
    var fragment = document.createDocumentFragment();
    for (var k = start; k < end; k += 1) {
      var row = rows[shown[k]];
      var tr = el('tr', { 'data-id': row[0] });
      var link = el('a', { href: '#row-' + encodeURIComponent(row[0]), text: row[0] });
      link.addEventListener('click', toggle.bind(null, row[0]));
      tr.appendChild(el('td', {}, [link]));
      for (var c = 1; c < columns.length; c += 1) { tr.appendChild(el('td', { text: display(cell(row, c)) })); }
      fragment.appendChild(tr);
      if (state.opened[row[0]]) {
        tr.className = 'open';
        fragment.appendChild(el('tr', { 'class': 'card' }, [
          el('td', { 'class': 'card-cell', colspan: String(columns.length) }, [card(row)])]));
      }
    }
    tbody.replaceChildren(fragment);
    count.textContent = shown.length.toLocaleString('en') + ' of ' + rows.length.toLocaleString('en') +
      (rows.length === 1 ? ' row' : ' rows');
    pageLabel.textContent = shown.length ? (start + 1).toLocaleString('en') + '\u2013' + end.toLocaleString('en') +
      ' of ' + shown.length.toLocaleString('en') : 'no rows';
    prev.disabled = state.page === 0;
    next.disabled = state.page >= pages - 1;
  }

  function toggle(id, event) {
    if (event) { event.preventDefault(); }
    state.opened[id] = !state.opened[id];
    if (state.opened[id]) { history.replaceState(null, '', '#row-' + encodeURIComponent(id)); }
    render();
  }

  function player(label, src) {
    if (!src) {
      return el('figure', { 'class': 'player absent' }, [el('figcaption', { text: label }),
        el('p', { 'class': 'muted', text: 'none (texture)' })]);
    }
    var name = src.indexOf('data:') === 0 ? 'embedded' : decodeURIComponent(src.split('/').pop());
    return el('figure', { 'class': 'player' }, [
      el('figcaption', { text: label + ' ' }, [el('span', { 'class': 'file', text: name })]),
      el('audio', { controls: '', preload: 'metadata', src: src })]);
  }
  function definitions(items) {
    return el('dl', {}, [].concat.apply([], items.map(function (item) {
      return [el('dt', { text: item[0] }), el('dd', { text: item[1] })];
    })));
  }
  function settingsBox(row) {
    var differs = row[5], overrides = row[6], values = {}, keys = [];
    Object.keys(data.settings).concat(Object.keys(differs)).forEach(function (k) {
      var v = Object.prototype.hasOwnProperty.call(differs, k) ? differs[k] : data.settings[k];
      if (v !== null && !Object.prototype.hasOwnProperty.call(values, k)) { values[k] = v; keys.push(k); }
    });
    var head = overrides.length
      ? el('p', { 'class': 'overrides' }, [el('span', { 'class': 'label', text: 'Manifest overrides' })].concat(
        overrides.map(function (k) {
          return el('span', { 'class': 'chip', title: 'set in the manifest', text: k + ' = ' + display(values[k]) });
        })))
      : el('p', { 'class': 'overrides muted', text: 'No manifest overrides: config.yaml and defaults only.' });
    var list = el('div', { 'class': 'settings' }, keys.map(function (k) {
      var overridden = overrides.indexOf(k) !== -1;
      var attrs = overridden ? { 'class': 'setting override', title: 'set in the manifest' } : { 'class': 'setting' };
      return el('div', attrs,
        [el('span', { text: k }), el('b', { text: values[k] })]);
    }));
    var details = el('details', {}, [el('summary', { text: 'All effective settings (' + keys.length + ')' }), list]);
    if (query.has('open')) { details.open = true; }
    return el('div', { 'class': 'settings-box' }, [el('h3', { text: 'Settings' }), head, details]);
  }
  function card(row) {
    var id = row[0], media = row[3];
    var image = el('img', { src: media[3], alt: 'spectrograms and loss curves of ' + id,
      width: '1210', height: '715' });
    // a data: URI cannot be opened as a page, so only linked images open full size
    var plot = media[3].indexOf('data:') === 0 ? image : el('a', { href: media[3], title: 'open full size' }, [image]);
    var run = [];
    row[4].forEach(function (v, i) { if (v !== null) { run.push([data.run_labels[i], v]); } });
    var metrics = [];
    for (var m = 0; m < data.metric_count; m += 1) { metrics.push([data.columns[m].name, display(row[2][m])]); }
    var hasMetrics = metrics.some(function (item) { return item[1] !== '\u2014'; });
    var facts = [el('div', {}, [el('h3', { text: 'Run' }),
      run.length ? definitions(run) : el('p', { 'class': 'muted', text: 'no run record' })])];
    if (data.metric_count) {
      facts.push(el('div', {}, [el('h3', { text: 'Metrics' }), hasMetrics ? definitions(metrics)
        : el('p', { 'class': 'muted', text: 'no metrics for this row' })]));
    }
    facts.push(settingsBox(row));
    // not id="row-ID": the browser would jump to it on load, before the table is in view
    return el('section', { 'class': 'row', id: 'card-' + id, 'data-id': id.toLowerCase() }, [
      el('h2', {}, [el('a', { href: '#row-' + encodeURIComponent(id), text: id }), document.createTextNode(' '),
        el('span', { 'class': 'kind ' + row[1], text: row[1] })]),
      el('div', { 'class': 'players' }, [player('Style', media[0]), player('Content', media[1]),
        player('Output', media[2])]),
      el('div', { 'class': 'plot' }, [plot]),
      el('div', { 'class': 'facts' }, facts)]);
  }

  // Open the row named in the URL's #row-ID and show the page of the table it is on.
  function openFromHash() {
    var hash = window.location.hash;
    if (hash.indexOf('#row-') !== 0) { return; }
    var id = decodeURIComponent(hash.slice(5)), at = -1;
    for (var k = 0; k < shown.length && at < 0; k += 1) { if (rows[shown[k]][0] === id) { at = k; } }
    if (at < 0) { return; }
    state.opened[id] = true;
    state.page = Math.floor(at / PAGE_SIZE);
    render();
    // scroll only when the card is out of sight, so a row near the top leaves the table in view
    var section = document.getElementById('card-' + id);
    if (section && section.getBoundingClientRect().top > window.innerHeight - 200) { section.scrollIntoView(); }
  }

  if (query.get('q')) { box.value = query.get('q'); }
  var sortBy = columns.map(function (c) { return c.name; }).indexOf(query.get('sort'));
  if (sortBy >= 0) { state.sort = sortBy; state.desc = query.has('desc'); }
  box.addEventListener('input', function () { state.page = 0; filter(); render(); });
  prev.addEventListener('click', function () { state.page -= 1; render(); });
  next.addEventListener('click', function () { state.page += 1; render(); });
  window.addEventListener('hashchange', openFromHash);
  filter();
  header();
  render();
  openFromHash();
  document.body.dataset.renderMs = String(Math.round(performance.now()));
  document.body.dataset.state = 'ready';

  if (!query.has('check')) { return; }
  tbody.querySelectorAll('tr[data-id]').forEach(function (tr) { state.opened[tr.dataset.id] = true; });
  render();
  function settle(node, ready, events) {
    return new Promise(function (resolve) {
      if (ready()) { resolve(); return; }
      events.forEach(function (name) { node.addEventListener(name, resolve, { once: true }); });
    });
  }
  var audios = Array.prototype.slice.call(document.querySelectorAll('section.row audio'));
  var images = Array.prototype.slice.call(document.querySelectorAll('section.row img'));
  var waits = audios.map(function (a) {
    return settle(a, function () { return a.readyState >= 1 || a.error; }, ['loadedmetadata', 'error']);
  }).concat(images.map(function (i) {
    return settle(i, function () { return i.complete; }, ['load', 'error']);
  }));
  Promise.all(waits).then(function () {
    var out = document.getElementById('media-check');
    out.textContent = JSON.stringify({
      audio: audios.map(function (a) {
        return { row: a.closest('section').dataset.id, src: a.getAttribute('src').slice(0, 120),
                 duration: isFinite(a.duration) ? a.duration : null, error: a.error ? a.error.code : null };
      }),
      images: images.map(function (i) {
        return { row: i.closest('section').dataset.id, src: i.getAttribute('src').slice(0, 120),
                 naturalWidth: i.naturalWidth };
      })
    });
    out.dataset.state = 'done';
  });
})();
