/* servicemap: sortable tables. Progressive enhancement: without JavaScript the table is still
 * complete and already sorted; with it, each column header becomes a button that sorts the rows
 * and updates aria-sort (announced by screen readers). */
(function () {
  "use strict";
  function value(cell, numeric) {
    var raw = cell.getAttribute("data-sort");
    if (raw === null) { raw = cell.textContent.trim(); }
    if (!numeric) { return raw.toLowerCase(); }
    var n = parseFloat(raw);
    return isNaN(n) ? null : n;
  }
  function sortBy(table, index, numeric, direction) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a.cells[index], numeric), y = value(b.cells[index], numeric);
      if (x === y) { return 0; }
      if (x === null) { return 1; }
      if (y === null) { return -1; }
      return (x < y ? -1 : 1) * (direction === "ascending" ? 1 : -1);
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    var headers = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(headers, function (th, index) {
      if (!th.hasAttribute("aria-sort")) { return; }
      var button = document.createElement("button");
      button.type = "button";
      while (th.firstChild) { button.appendChild(th.firstChild); }
      th.appendChild(button);
      button.addEventListener("click", function () {
        var next = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
        Array.prototype.forEach.call(headers, function (other) {
          if (other.hasAttribute("aria-sort")) { other.setAttribute("aria-sort", "none"); }
        });
        th.setAttribute("aria-sort", next);
        sortBy(table, index, th.getAttribute("data-type") === "number", next);
        var status = document.getElementById(table.id + "-status");
        if (status) {
          status.textContent = "Sorted by " + button.textContent.trim() + ", " + next + ".";
        }
      });
    });
  });
})();
/* servicemap: a table wider than its box says that it scrolls sideways (the box is focusable,
 * so the arrow keys scroll it). */
(function () {
  "use strict";
  var wraps = document.querySelectorAll(".table-wrap");
  function update() {
    Array.prototype.forEach.call(wraps, function (wrap) {
      var cue = wrap.previousElementSibling;
      var has = cue && cue.classList.contains("scroll-cue");
      var wide = wrap.scrollWidth > wrap.clientWidth + 1;
      if (wide && !has) {
        cue = document.createElement("p");
        cue.className = "scroll-cue";
        cue.textContent = "This table is wider than the screen: scroll it sideways (or select it and use the arrow keys) to see every column.";
        wrap.parentNode.insertBefore(cue, wrap);
      } else if (!wide && has) {
        cue.parentNode.removeChild(cue);
      }
    });
  }
  update();
  window.addEventListener("resize", update);
})();
