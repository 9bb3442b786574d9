// The HTML report's script: filters and sorting for the findings table, opening the
// details a link points at, and expanding every <details> for printing. The page is
// complete without it; it only adds interaction. No network, no storage, no globals.
(function () {
  'use strict';

  var table = document.getElementById('findings-table');
  var form = document.getElementById('filters');
  if (table && form) {
    var tbody = table.tBodies[0];
    var rows = Array.prototype.slice.call(tbody.querySelectorAll('tr.finding'));
    var emptyRow = tbody.querySelector('tr.empty-row');
    var count = document.getElementById('filter-count');
    form.hidden = false;
    count.hidden = false;

    var apply = function () {
      var severities = {};
      Array.prototype.forEach.call(form.querySelectorAll('input[name=severity]'), function (box) {
        severities[box.value] = box.checked;
      });
      var rule = form.elements.rule.value;
      var ns = form.elements.namespace.value;
      var text = form.elements.q.value.trim().toLowerCase();
      var onlyNew = form.elements.onlynew ? form.elements.onlynew.checked : false;
      var shown = 0;
      rows.forEach(function (tr) {
        var d = tr.dataset;
        var ok = severities[d.severity] !== false &&
          (rule === '*' || d.rule === rule) &&
          (ns === '*' || d.namespace === ns) &&
          (!onlyNew || d.new === 'true') &&
          (text === '' || tr.textContent.toLowerCase().indexOf(text) >= 0);
        tr.hidden = !ok;
        if (ok) shown++;
      });
      if (emptyRow) emptyRow.hidden = shown !== 0;
      count.textContent = 'Showing ' + shown + ' of ' + rows.length + (rows.length === 1 ? ' finding' : ' findings') + '.';
    };
    form.addEventListener('input', apply);
    form.addEventListener('change', apply);
    form.addEventListener('submit', function (e) { e.preventDefault(); });
    // Clearing applies at once (a reset event comes before the fields are reset).
    form.querySelector('button.clear').addEventListener('click', function () {
      form.reset();
      apply();
    });
    apply();

    // Sorting: each sortable header gets a button; the cells' data-sort (or their text)
    // is the key, and the original position breaks ties so sorting is stable.
    var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
    var sortBy = function (th, dir) {
      var col = headers.indexOf(th);
      var numeric = th.dataset.sortType === 'number';
      var key = function (tr) {
        var cell = tr.cells[col];
        var v = cell.hasAttribute('data-sort') ? cell.getAttribute('data-sort') : cell.textContent.trim();
        return numeric ? parseFloat(v) || 0 : v.toLowerCase();
      };
      var sorted = rows.slice().sort(function (a, b) {
        var ka = key(a), kb = key(b);
        var c = ka < kb ? -1 : ka > kb ? 1 : 0;
        if (dir === 'descending') c = -c;
        return c || (a.dataset.index - b.dataset.index);
      });
      sorted.forEach(function (tr) { tbody.appendChild(tr); });
      if (emptyRow) tbody.appendChild(emptyRow);
      headers.forEach(function (h) {
        if (h === th) h.setAttribute('aria-sort', dir);
        else h.removeAttribute('aria-sort');
      });
    };
    headers.forEach(function (th) {
      if (!th.hasAttribute('data-sortable')) return;
      var button = document.createElement('button');
      button.type = 'button';
      button.className = 'sort';
      while (th.firstChild) button.appendChild(th.firstChild);
      th.appendChild(button);
      button.addEventListener('click', function () {
        var first = th.dataset.sortFirst || 'ascending';
        var next = th.getAttribute('aria-sort') === first
          ? (first === 'ascending' ? 'descending' : 'ascending')
          : first;
        sortBy(th, next);
      });
    });
  }

  // A link to a rule's documentation or a finding opens its <details>.
  var openTarget = function () {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id && document.getElementById(id);
    for (; el; el = el.parentElement) {
      if (el.tagName === 'DETAILS') el.open = true;
    }
  };
  window.addEventListener('hashchange', openTarget);
  openTarget();

  // Printing expands everything (CSS does it too where the browser supports
  // ::details-content), and closes again what was closed before.
  var opened = [];
  window.addEventListener('beforeprint', function () {
    Array.prototype.forEach.call(document.querySelectorAll('details:not([open])'), function (d) {
      d.open = true;
      opened.push(d);
    });
  });
  window.addEventListener('afterprint', function () {
    opened.forEach(function (d) { d.open = false; });
    opened = [];
  });
})();
