/* servicemap: the map page's service markers (from the compact array of render/markers.py), their
 * filters, keyboard access to force areas, districts and services, the switch between the area
 * layers, and the panels folded behind buttons.
 * Every text of the directory arrives escaped from Python and is only assembled here; text for
 * attributes and form controls is set as text (textContent, value), never as markup. */
(function () {
  "use strict";
  var ui = window.servicemapUI = {};
  var WIDE = "(min-width: 700px) and (min-height: 520px)";

  // A popup fits the screen, a phone's too (Leaflet's own padding and tip take about 60 px).
  ui.popupWidth = function () { return Math.max(200, Math.min(320, window.innerWidth - 70)); };

  function plain(html) {
    // Escaped HTML to text, in an inert document (nothing in it loads or runs).
    return new DOMParser().parseFromString("<!DOCTYPE html><body>" + html, "text/html")
      .body.textContent;
  }

  /* Keyboard: a shape or marker takes focus with a name; Enter or Space opens its popup and
   * moves the focus into it; closing the popup (Escape) gives the focus back. */
  ui.keyboard = function (layer, name) {
    function decorate() {
      var el = layer.getElement && layer.getElement();
      if (!el || el.getAttribute("data-sm-keyboard")) { return; }
      el.setAttribute("data-sm-keyboard", "1");
      el.setAttribute("tabindex", "0");
      el.setAttribute("role", "button");
      el.setAttribute("aria-label", typeof name === "function" ? name() : name);
      L.DomEvent.on(el, "keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") {
          L.DomEvent.stop(e);
          layer._smByKeyboard = true;
          layer.openPopup();
        }
      });
    }
    layer.on("add", decorate);
    layer.on("popupopen", function (e) {
      if (!layer._smByKeyboard) { return; }
      var box = e.popup.getElement();
      if (!box) { return; }
      if (!box.getAttribute("data-sm-escape")) {
        box.setAttribute("data-sm-escape", "1");
        L.DomEvent.on(box, "keydown", function (k) {
          if (k.key === "Escape") { L.DomEvent.stop(k); layer.closePopup(); }
        });
      }
      var target = box.querySelector(".leaflet-popup-content a[href]") ||
        box.querySelector(".leaflet-popup-close-button");
      if (target) { target.focus(); }
    });
    layer.on("popupclose", function () {
      if (!layer._smByKeyboard) { return; }
      layer._smByKeyboard = false;
      var el = layer.getElement && layer.getElement();
      if (el && el.isConnected) { el.focus(); }
    });
  };

  /* A district of the district layer (render/district_layer.py): its properties hold its name
   * (n), its figures (v, in the order of the headings; v[0] its police force area), its force's
   * profile slug (s), all escaped; the tooltip, popup and accessible name are made from them. */
  ui.district = function (feature, layer, headings, base) {
    var p = feature.properties;
    var rows = headings.map(function (heading, i) {
      return "<tr><th scope='row'>" + heading + "</th><td>" + p.v[i] + "</td></tr>";
    }).join("");
    var tip = "<strong>" + p.n + "</strong><table>" + rows + "</table>";
    var link = base !== null && p.s ? "<p><a href='" + base + p.s + ".html' target='_top'>" +
      "Open the profile of " + p.v[0] + "</a></p>" : "";
    layer.bindTooltip(tip, {sticky: true});
    layer.bindPopup(function () { return "<div class='sm-popup'>" + tip + link + "</div>"; },
      {maxWidth: ui.popupWidth()});
    ui.keyboard(layer, function () {
      return plain(p.n) + ", district in " + plain(p.v[0]) + ": " + plain(headings[1]) + " " +
        plain(p.v[1]);
    });
  };

  /* The area layers, one shown at a time (the layer list's radio buttons): the shown one is put
   * under the service markers (they share the overlay pane, and a layer added later would be
   * drawn over them), and the legend shows its key ([data-sm-areas] parts). */
  ui.areaLayers = function (map, layers) {
    map.on("baselayerchange", function (e) {
      Object.keys(layers).forEach(function (key) {
        if (layers[key] !== e.layer) { return; }
        e.layer.getLayers().reverse().forEach(function (shape) { shape.bringToBack(); });
        Array.prototype.forEach.call(document.querySelectorAll("[data-sm-areas]"),
          function (part) { part.hidden = part.getAttribute("data-sm-areas") !== key; });
      });
    });
  };

  var LOCAL = {radius: 7, color: "#ffffff", weight: 2, fillOpacity: 0.95, className: "sm-service sm-local"};
  var REGIONAL = {radius: 9, color: "#1a1a1a", weight: 3, dashArray: "4 3", fillOpacity: 0.95,
    className: "sm-service sm-regional"};

  function value(s, v) {
    if (typeof v === "number") { return s[v]; }
    if (v[0] === 0) { return "<a href='tel:" + s[v[1]] + "'>" + s[v[2]] + "</a>"; }
    if (v[0] === 2) { return "<a href='mailto:" + s[v[1]] + "'>" + s[v[1]] + "</a>"; }
    return "<a href='" + s[v[1]] + "' target='_blank' rel='noopener noreferrer'>" +
      s[v[1]] + "</a>";
  }

  function popup(s, r) {
    var h = "<div class='sm-popup'><h3>" + s[r[3]] + "</h3>";
    if (r[4] >= 0) { h += "<p>" + s[r[4]] + "</p>"; }
    if (r.length > 5) {
      h += "<dl>";
      for (var i = 5; i < r.length; i += 2) {
        h += "<dt>" + s[r[i]] + "</dt><dd>" + value(s, r[i + 1]) + "</dd>";
      }
      h += "</dl>";
    }
    return h + "</div>";
  }

  /* The markers: one per row of data.r, in the sub-group of its layer; returns the entries the
   * filters work on and adds the filter panel when there is anything to filter. */
  ui.addMarkers = function (data, groups, map) {
    var s = data.s;
    var byLayer = data.l.map(function () { return []; });
    var entries = data.r.map(function (r, i) {
      var regional = data.sc[r[2]] === 1;
      var options = L.extend({}, regional ? REGIONAL : LOCAL, {fillColor: data.c[r[2]]});
      var marker = L.circleMarker([r[0], r[1]], options)
        .bindPopup(function () { return popup(s, r); }, {maxWidth: ui.popupWidth()})
        .bindTooltip(s[r[3]]);
      ui.keyboard(marker, function () {
        return plain(s[r[3]]) + " (" + (regional ? "regional" : "local") + " service)";
      });
      byLayer[r[2]].push(marker);
      return {marker: marker, layer: r[2], row: i, shown: true};
    });
    // Fill each layer while it is off the map, so the cluster takes its markers in one bulk
    // call (one clustering pass) rather than one at a time.
    byLayer.forEach(function (markers, i) {
      var group = groups[data.l[i]], onMap = group._map;
      if (onMap) { onMap.removeLayer(group); }
      group.addLayers(markers);
      if (onMap) { onMap.addLayer(group); }
    });
    var filters = ui.filters(map, data, entries, byLayer.map(function (_, i) {
      return groups[data.l[i]];
    }));
    ui.lastFilters = filters;
    return entries;
  };

  function field(form, labelText, control) {
    var label = document.createElement("label");
    var span = document.createElement("span");
    span.textContent = labelText;
    label.appendChild(span);
    label.appendChild(control);
    form.appendChild(label);
    return control;
  }

  function select(options) {
    var el = document.createElement("select");
    options.forEach(function (o) {
      var option = document.createElement("option");
      option.value = String(o[0]);
      option.textContent = o[1];
      el.appendChild(option);
    });
    return el;
  }

  function checkbox(form, text) {
    var label = document.createElement("label");
    label.className = "sm-check";
    var box = document.createElement("input");
    box.type = "checkbox";
    label.appendChild(box);
    label.appendChild(document.createTextNode(" " + text));
    form.appendChild(label);
    return box;
  }

  /* The filter panel: kind of help, language, community words, by and for, NRPF. Markers that
   * do not match leave their layer (and the cluster counts); the status line says how many
   * are shown. */
  ui.filters = function (map, data, entries, groups) {
    if (!entries.length) { return null; }
    var control = L.control({position: "topright"});
    var form = document.createElement("form");
    form.className = "sm-filter-form";
    var heading = document.createElement("h2");
    heading.textContent = "Filter services";
    form.appendChild(heading);
    var kind = field(form, "Kind of help",
      select([[0, "Any kind"]].concat(data.k)));
    var language = data.lg.length ? field(form, "Language",
      select([[-1, "Any language"]].concat(data.lg.map(function (x, i) { return [i, x]; })))) : null;
    var community = null;
    if (data.cm.length) {
      community = document.createElement("input");
      community.type = "search";
      community.setAttribute("list", "sm-communities");
      community.setAttribute("autocomplete", "off");
      var list = document.createElement("datalist");
      list.id = "sm-communities";
      data.cm.forEach(function (x) {
        var option = document.createElement("option");
        option.value = x;
        list.appendChild(option);
      });
      field(form, "Community (words it names)", community);
      form.appendChild(list);
    }
    var byAndFor = checkbox(form, "By and for: led by the communities it serves");
    var nrpf = checkbox(form, "Supports people with no recourse to public funds (NRPF)");
    var clear = document.createElement("button");
    clear.type = "button";
    clear.textContent = "Clear filters";
    form.appendChild(clear);
    var status = document.createElement("p");
    status.className = "sm-note sm-filter-status";
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    form.appendChild(status);

    function passes(entry) {
      var bits = data.f[entry.row], extra = data.g[String(entry.row)];
      var k = parseInt(kind.value, 10);
      if (k && !(bits & k)) { return false; }
      if (byAndFor.checked && !(bits & 64)) { return false; }
      if (nrpf.checked && !(bits & 128)) { return false; }
      if (language && language.value !== "-1") {
        if (!extra || extra[0].indexOf(parseInt(language.value, 10)) < 0) { return false; }
      }
      var words = community ? community.value.trim().toLowerCase() : "";
      if (words) {
        if (!extra) { return false; }
        var text = extra[1].map(function (i) { return data.cm[i]; }).join(" ; ").toLowerCase();
        var all = words.split(/\s+/).every(function (w) { return text.indexOf(w) >= 0; });
        if (!all) { return false; }
      }
      return true;
    }

    function apply() {
      var add = groups.map(function () { return []; });
      var remove = groups.map(function () { return []; });
      var shown = 0;
      entries.forEach(function (entry) {
        var ok = passes(entry);
        if (ok) { shown += 1; }
        if (ok !== entry.shown) {
          (ok ? add : remove)[entry.layer].push(entry.marker);
          entry.shown = ok;
        }
      });
      groups.forEach(function (group, i) {
        if (remove[i].length) { group.removeLayers(remove[i]); }
        if (add[i].length) { group.addLayers(add[i]); }
      });
      status.textContent = shown === entries.length
        ? "Showing all " + entries.length + " services placed on the map."
        : "Showing " + shown + " of the " + entries.length + " services placed on the map.";
      return shown;
    }

    form.addEventListener("input", apply);
    form.addEventListener("change", apply);
    form.addEventListener("submit", function (e) { e.preventDefault(); apply(); });
    clear.addEventListener("click", function () { form.reset(); apply(); });
    control.onAdd = function () {
      var div = L.DomUtil.create("div", "sm-box sm-filters");
      div.id = "sm-filters";
      div.appendChild(form);
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      return div;
    };
    control.addTo(map);
    apply();
    return {apply: apply, shown: function () {
      return entries.filter(function (e) { return e.shown; }).length;
    }};
  };

  /* Buttons that fold the legend, the layer list and the filters: open on a wide screen
   * (except the filters), folded on a phone, where the map fills the screen. Panels that would
   * cover each other take turns: opening one folds the others of its group (on a phone, all). */
  ui.panels = function (map, specs) {
    var wide = window.matchMedia ? window.matchMedia(WIDE).matches : true;
    var corner = map._controlCorners.topright;
    var bar = L.DomUtil.create("div", "leaflet-control sm-toolbar");
    bar.setAttribute("role", "group");
    bar.setAttribute("aria-label", "Map panels");
    var shown = [];
    specs.forEach(function (spec, n) {
      var panel = document.querySelector(spec.selector);
      if (!panel) { return; }
      panel.id = panel.id || "sm-panel-" + n;
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = spec.label;
      button.setAttribute("aria-controls", panel.id);
      function show(open) {
        button.setAttribute("aria-expanded", open ? "true" : "false");
        panel.classList.toggle("sm-folded", !open);
      }
      var entry = {group: wide ? spec.group : "phone", show: show};
      shown.push(entry);
      show(wide && spec.wide);
      button.addEventListener("click", function () {
        var open = button.getAttribute("aria-expanded") !== "true";
        if (open) {
          shown.forEach(function (other) {
            if (other !== entry && other.group && other.group === entry.group) { other.show(false); }
          });
        }
        show(open);
      });
      bar.appendChild(button);
    });
    L.DomEvent.disableClickPropagation(bar);
    corner.insertBefore(bar, corner.firstChild);
    if (!wide) {
      Array.prototype.forEach.call(document.querySelectorAll("details.sm-open-wide"),
        function (details) { details.removeAttribute("open"); });
    }
  };
})();
