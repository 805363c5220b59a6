/* servicemap search: "Find help near a postcode or place", offline, from file://.
 *
 * Data files are added as <script> tags when first needed (no fetch(): a page opened from
 * file:// may not read files); each calls a register function below. postcodes/ holds geography
 * only (servicemap.geography.postcode_index writes it); search-services.js holds the services'
 * public fields, the districts each serves and the place of each public in-person service, as
 * servicemap.analysis.near decides them. This script only looks up and sorts by distance, in
 * the order `servicemap near` uses. Text from the data is put on the page as text, never HTML.
 */
(function (root) {
  "use strict";

  var ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%()*+-.:=";
  var LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  var VALUE = new Int16Array(128).fill(-1);
  for (var i = 0; i < ALPHABET.length; i++) VALUE[ALPHABET.charCodeAt(i)] = i;
  var RADIUS_KM = 25;
  var NEARBY_LIMIT = 10;
  var SCOPE_CODE = {local: 0, regional: 1, national: 2};
  var KIND_WORDS = {f: "police force area", d: "local authority district", c: "county",
    r: "region", n: "nation", town: "town"};
  var FORMS = "give a postcode like TR1 2HE, part of one like TR1 2 or TR1, or a place";

  // --- decoding the postcode files (the exact test runs these under node) -----------------

  function decodeVarints(text) {
    var out = [];
    var value = 0;
    var scale = 1;
    for (var k = 0; k < text.length; k++) {
      var digit = VALUE[text.charCodeAt(k)];
      if (digit < 0) throw new Error("bad character in postcode data");
      value += (digit & 31) * scale;
      if (digit & 32) {
        scale *= 32;
      } else {
        out.push(value);
        value = 0;
        scale = 1;
      }
    }
    return out;
  }

  function unzigzag(v) {
    return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
  }

  function decodeShard(payload) {
    var gaps = decodeVarints(payload.c);
    var runs = decodeVarints(payload.r);
    var moves = decodeVarints(payload.x);
    var n = gaps.length;
    var shard = {length: n, code: new Int32Array(n), district: new Int32Array(n),
      located: new Uint8Array(n), x: new Float64Array(n), y: new Float64Array(n)};
    var prev = -1;
    for (var k = 0; k < n; k++) {
      prev += gaps[k] + 1;
      shard.code[k] = prev;
    }
    var row = 0;
    for (var r = 0; r < runs.length; r += 2) {
      var district = payload.d[runs[r + 1] >> 1];
      var located = runs[r + 1] & 1;
      for (var c = 0; c < runs[r]; c++, row++) {
        shard.district[row] = district;
        shard.located[row] = located;
      }
    }
    if (row !== n) throw new Error("postcode data runs do not add up");
    var px = 0;
    var py = 0;
    var m = 0;
    for (k = 0; k < n; k++) {
      if (shard.located[k]) {
        px += unzigzag(moves[m++]);
        py += unzigzag(moves[m++]);
        shard.x[k] = px;
        shard.y[k] = py;
      } else {
        shard.x[k] = NaN;
        shard.y[k] = NaN;
      }
    }
    return shard;
  }

  function inwardText(code) {
    var rest = code % 676;
    return String(Math.floor(code / 676)) + LETTERS[Math.floor(rest / 26)] + LETTERS[rest % 26];
  }

  function inwardCode(text) {
    return (text.charCodeAt(0) - 48) * 676 + (text.charCodeAt(1) - 65) * 26 +
      (text.charCodeAt(2) - 65);
  }

  function districtSet(text, size) {
    // "3,17" (indices) or "~" + a bit mask, six districts per character.
    var set = new Uint8Array(size);
    if (!text) return set;
    if (text.charAt(0) === "~") {
      for (var k = 1; k < text.length; k++) {
        var bits = VALUE[text.charCodeAt(k)];
        for (var b = 0; b < 6; b++) if (bits & (1 << b)) set[(k - 1) * 6 + b] = 1;
      }
    } else {
      text.split(",").forEach(function (d) { set[Number(d)] = 1; });
    }
    return set;
  }

  // --- words: area names as servicemap.geography.areas.area_key matches them -------------

  function areaKey(text) {
    var plain = text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
    plain = plain.replace(/['\u2019\u2018`]/g, "").replace(/&/g, " and ");
    return plain.split(/[^a-z0-9]+/).filter(function (w) { return w && w !== "the"; })
      .map(function (w) { return w === "saint" ? "st" : w; }).join(" ");
  }

  function editDistance(a, b, limit) {
    if (Math.abs(a.length - b.length) > limit) return limit + 1;
    var prev = [];
    var cur = [];
    for (var j = 0; j <= b.length; j++) prev[j] = j;
    for (var k = 1; k <= a.length; k++) {
      cur = [k];
      var best = k;
      for (j = 1; j <= b.length; j++) {
        var cost = a.charCodeAt(k - 1) === b.charCodeAt(j - 1) ? 0 : 1;
        cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
        if (cur[j] < best) best = cur[j];
      }
      if (best > limit) return limit + 1;
      prev = cur;
    }
    return prev[b.length];
  }

  // numpy rounds halves to even (np.round(km, 1)); so does this.
  function round1(km) {
    var v = km * 10;
    var r = Math.round(v);
    if (Math.abs(v - Math.trunc(v)) === 0.5) r = 2 * Math.round(v / 2);
    return r / 10;
  }

  // --- loading data files with <script> tags -----------------------------------------------

  var store = {shards: {}};
  var pending = {};

  root.smPostcodeIndex = function (data) { store.index = data; };
  root.smPlaces = function (data) { store.places = data; };
  root.smTowns = function (data) { store.towns = data; };
  root.smSearchServices = function (data) { store.services = data; };
  root.smPostcodes = function (outward, data) { store.shards[outward] = data; };

  function load(src) {
    if (!pending[src]) {
      pending[src] = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = src;
        script.onload = function () {
          store.loadedAt = performance.now();
          resolve();
        };
        script.onerror = function () {
          delete pending[src];
          reject(new Error("The search data file " + src + " is missing from the report folder."));
        };
        document.head.appendChild(script);
      });
    }
    return pending[src];
  }

  // --- postcodes ---------------------------------------------------------------------------

  var POSTCODE = /^(?:[A-Z]{1,2}[0-9][A-Z0-9]?|GIR|NPT)[0-9][A-Z]{2}$/;
  var OUTWARD = /^[A-Z]{1,2}[0-9][A-Z0-9]?$/;

  function parsePostcode(text) {
    var words = text.toUpperCase().split(/\s+/).filter(Boolean);
    var code = words.join("");
    if (POSTCODE.test(code)) {
      return {kind: "postcode", outward: code.slice(0, -3), inward: code.slice(-3),
        label: code.slice(0, -3) + " " + code.slice(-3)};
    }
    if (words.length === 2 && OUTWARD.test(words[0]) && /^[0-9]$/.test(words[1])) {
      return {kind: "postcode sector", outward: words[0], sector: Number(words[1]),
        label: words.join(" ")};
    }
    if (words.length === 1 && OUTWARD.test(code)) {
      return {kind: "postcode district", outward: code, label: code};
    }
    return null;
  }

  function outwardState(outward) {
    var index = store.index;
    if (!index.fileOf) {
      index.fileOf = new Map();
      index.outward.split("|").forEach(function (pack) {
        var codes = pack.split(",");
        codes.forEach(function (code) { index.fileOf.set(code, codes[0]); });
      });
      index.outsideSet = new Set(index.outside ? index.outside.split(",") : []);
    }
    if (index.fileOf.has(outward)) return "inside";
    return index.outsideSet.has(outward) ? "outside" : "unknown";
  }

  function shardFor(base, outward) {
    var data = store.shards[outward];
    if (data && data.decoded) return Promise.resolve(data.decoded);
    var file = store.index.fileOf.get(outward);
    return load(base + "postcodes/" + file + ".js").then(function () {
      data = store.shards[outward];
      if (!data) throw new Error("The postcode data for " + outward + " is damaged.");
      if (!data.decoded) data.decoded = decodeShard(data);
      return data.decoded;
    });
  }

  function forceOf(district) {
    var entry = store.index.districts[district];
    return entry ? entry[1] : -1;
  }

  function fail(message) {
    return {message: message};
  }

  function postcodePlace(base, parsed) {
    var state = outwardState(parsed.outward);
    if (state === "unknown" && parsed.kind === "postcode district" && /[0-9]$/.test(parsed.label)) {
      var shorter = parsed.label.slice(0, -1);
      if (OUTWARD.test(shorter) && outwardState(shorter) === "inside") {
        // "ST41" typed without its space: the sector ST4 1.
        var sector = {kind: "postcode sector", outward: shorter,
          sector: Number(parsed.label.slice(-1)), label: shorter + " " + parsed.label.slice(-1)};
        return shardFor(base, shorter).then(function (shard) {
          return sectorRows(shard, sector).length ? areaPlace(shard, sector) : notFound(parsed);
        });
      }
    }
    if (state === "outside") {
      return Promise.resolve(fail(what(parsed) + " is outside England and Wales; this report " +
        "covers the 43 police force areas of England and Wales."));
    }
    if (state === "unknown") return Promise.resolve(notFound(parsed));
    return shardFor(base, parsed.outward).then(function (shard) {
      return parsed.kind === "postcode" ? fullPlace(shard, parsed) : areaPlace(shard, parsed);
    });
  }

  function what(parsed) {
    return parsed.kind === "postcode" ? "Postcode " + parsed.label :
      parsed.kind.charAt(0).toUpperCase() + parsed.kind.slice(1) + " " + parsed.label;
  }

  function notFound(parsed) {
    if (parsed.kind === "postcode") {
      return fail("Postcode " + parsed.label + " is not in the ONS postcode directory; check it " +
        "for typos (new postcodes appear a few months after they are issued).");
    }
    return fail(what(parsed) + " is not in the ONS postcode directory; check it for typos, or " +
      FORMS + ".");
  }

  function findRow(shard, code) {
    var lo = 0;
    var hi = shard.length - 1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (shard.code[mid] === code) return mid;
      if (shard.code[mid] < code) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
  }

  function fullPlace(shard, parsed) {
    var row = findRow(shard, inwardCode(parsed.inward));
    if (row < 0) return notFound(parsed);
    if (!shard.located[row]) {
      return fail("Postcode " + parsed.label + " has no grid reference in the ONS postcode " +
        "directory; try a neighbouring postcode.");
    }
    var district = shard.district[row];
    if (forceOf(district) < 0) {
      return fail("Postcode " + parsed.label + " is outside England and Wales; this report " +
        "covers the 43 police force areas of England and Wales.");
    }
    return {x: shard.x[row], y: shard.y[row], districts: [district], label: parsed.label,
      kind: "postcode", centre: district, partlyOutside: false};
  }

  function sectorRows(shard, parsed) {
    var rows = [];
    for (var k = 0; k < shard.length; k++) {
      if (parsed.kind !== "postcode sector" || Math.floor(shard.code[k] / 676) === parsed.sector) {
        rows.push(k);
      }
    }
    return rows;
  }

  function areaPlace(shard, parsed) {
    // As servicemap.analysis.near._resolve_area: the mean of the located postcodes, and the
    // England and Wales districts they lie in.
    var rows = sectorRows(shard, parsed);
    if (!rows.length) return notFound(parsed);
    var located = rows.filter(function (k) { return shard.located[k]; });
    if (!located.length) {
      return fail(what(parsed) + " has no postcode with a grid reference in the ONS postcode " +
        "directory; give a full postcode.");
    }
    var inside = located.filter(function (k) { return forceOf(shard.district[k]) >= 0; });
    if (!inside.length) {
      return fail(what(parsed) + " is outside England and Wales; this report covers the 43 " +
        "police force areas of England and Wales.");
    }
    var sx = 0;
    var sy = 0;
    located.forEach(function (k) { sx += shard.x[k]; sy += shard.y[k]; });
    var x = sx / located.length;
    var y = sy / located.length;
    var best = Infinity;
    var centre = -1;
    var seen = new Set();
    inside.forEach(function (k) {
      var d2 = Math.pow(shard.x[k] - x, 2) + Math.pow(shard.y[k] - y, 2);
      if (d2 < best) { best = d2; centre = shard.district[k]; }
      seen.add(shard.district[k]);
    });
    var districts = Array.from(seen).sort(function (a, b) { return a - b; });
    return {x: x, y: y, districts: districts, label: parsed.label, kind: parsed.kind,
      centre: centre, partlyOutside: inside.length < located.length};
  }

  // --- places: areas (forces, districts, counties, regions) and towns ---------------------

  function placeIndex() {
    var places = store.places;
    if (places.keyMap) return places;
    places.keyMap = new Map();
    places.keys.split("\n").forEach(function (line) {
      var bar = line.lastIndexOf("|");
      places.keyMap.set(line.slice(0, bar), line.slice(bar + 1).split(",").map(function (m) {
        return {kind: m.charAt(0), area: Number(m.slice(1))};
      }));
    });
    places.townList = [];
    places.townMap = new Map();
    (store.towns || "").split("\n").forEach(function (line) {
      if (line.length < 9) return;
      var code = line.slice(-8);
      var town = {name: line.slice(0, -8), x: fixed(code.slice(0, 3)) * 10,
        y: fixed(code.slice(3, 6)) * 10, district: fixed(code.slice(6))};
      town.key = areaKey(town.name);
      places.townList.push(town);
      if (!places.townMap.has(town.key)) places.townMap.set(town.key, []);
      places.townMap.get(town.key).push(town);
    });
    return places;
  }

  function withoutCity(key) {
    var found = [];
    [/^city of (.+)$/, /^(.+) city of$/, /^(.+) city$/].forEach(function (pattern) {
      var match = pattern.exec(key);
      if (match) found.push(match[1]);
    });
    return found;
  }

  function meanings(key, depth) {
    // As servicemap.geography.areas._meanings: the name, then with a qualifier stripped.
    var places = placeIndex();
    var variants = [key].concat(withoutCity(key));
    for (var v = 0; v < variants.length; v++) {
      if (places.keyMap.has(variants[v])) return places.keyMap.get(variants[v]);
    }
    if (depth >= 2) return [];
    for (var q = 0; q < places.qualifiers.length; q++) {
      var affix = places.qualifiers[q][0];
      var position = places.qualifiers[q][1];
      var kind = places.qualifiers[q][2];
      var base = null;
      if (position === "suffix" && key.slice(-affix.length - 1) === " " + affix) {
        base = key.slice(0, -affix.length - 1);
      } else if (position === "prefix" && key.slice(0, affix.length + 1) === affix + " ") {
        base = key.slice(affix.length + 1);
      }
      if (base === null) continue;
      var found = meanings(base, depth + 1);
      if (!kind && found.length) return found;
      var wanted = found.filter(function (m) { return m.kind === kind; });
      if (kind && wanted.length) return wanted;
    }
    return [];
  }

  function fixed(text) {
    var v = 0;
    for (var k = 0; k < text.length; k++) v = v * 64 + VALUE[text.charCodeAt(k)];
    return v;
  }

  function areaAsPlace(index) {
    var area = store.places.areas[index];
    var set = districtSet(area[4], ewDistricts());
    var districts = [];
    set.forEach(function (on, d) { if (on) districts.push(d); });
    return {x: fixed(area[3].slice(0, 4)), y: fixed(area[3].slice(4)), districts: districts,
      label: area[0], kind: area[1], centre: null, partlyOutside: false, code: area[2]};
  }

  function townAsPlace(town) {
    return {x: town.x, y: town.y, districts: [town.district], label: town.name, kind: "town",
      centre: town.district, partlyOutside: false};
  }

  function namedPlace(text) {
    var key = areaKey(text);
    if (!key) return fail("Type a postcode or the name of a place.");
    var found = meanings(key, 0);
    if (found.length) return areaAsPlace(found[0].area);
    var places = placeIndex();
    var towns = places.townMap.get(key);
    var comma = text.indexOf(",");
    if (!towns && comma > 0) {
      // "Newport, Isle of Wight": a town in a named district.
      var townKey = areaKey(text.slice(0, comma));
      var districtKey = areaKey(text.slice(comma + 1));
      towns = (places.townMap.get(townKey) || []).filter(function (t) {
        return areaKey(store.index.districts[t.district][0]) === districtKey;
      });
      if (!towns.length) towns = null;
    }
    if (towns && towns.length === 1) return townAsPlace(towns[0]);
    if (towns) return {choices: towns};
    return {message: "No postcode or place called “" + text.trim() + "” is known here.",
      suggestions: suggestions(key)};
  }

  function suggestions(key) {
    var places = placeIndex();
    var limit = Math.max(1, Math.floor(key.length / 4));
    var found = [];
    places.keyMap.forEach(function (ms, candidate) {
      if (/^[a-z][0-9]{8}$/.test(candidate)) return;
      var d = editDistance(key, candidate, limit);
      if (d <= limit) found.push({d: d, name: store.places.areas[ms[0].area][0], order: found.length});
    });
    places.townList.forEach(function (town) {
      var d = editDistance(key, town.key, limit);
      if (d <= limit) found.push({d: d, name: town.name, order: found.length});
    });
    found.sort(function (a, b) { return a.d - b.d || a.order - b.order; });
    var names = [];
    found.forEach(function (f) { if (names.indexOf(f.name) < 0) names.push(f.name); });
    return names.slice(0, 3);
  }

  // --- who can help: as servicemap.analysis.near._relations and _near_rows -----------------

  function passes(service, filters) {
    if (filters.kind && service.k.indexOf(filters.kind) < 0) return false;
    if (filters.language && service.l.indexOf(filters.language) < 0) return false;
    if (filters.community && service.cm.indexOf(filters.community) < 0) return false;
    if (filters.byAndFor && service.b !== "yes") return false;
    if (filters.nrpf && service.r !== "yes") return false;
    return true;
  }

  function servedBy(service) {
    if (!service.dset) service.dset = districtSet(service.d, ewDistricts());
    return service.dset;
  }

  function ewDistricts() {
    return store.index.districts.filter(function (d) { return d[1] >= 0; }).length;
  }

  function whoCanHelp(place, filters) {
    var services = store.services.services.filter(function (s) { return passes(s, filters); });
    var rows = services.map(function (s, order) {
      var served = servedBy(s);
      var serves = place.districts.some(function (d) { return served[d] === 1; });
      var point = s.x !== undefined && !s.c;
      var km = point ? Math.hypot(s.x - place.x, s.y - place.y) / 1000 : NaN;
      return {service: s, order: order, serves: serves, point: point, km: km, relation: ""};
    });
    rows.forEach(function (r) { if (r.serves) r.relation = "serves this area"; });
    var nearby = rows.filter(function (r) { return r.point && !r.serves && r.km <= RADIUS_KM; });
    nearby.sort(function (a, b) { return a.km - b.km || a.order - b.order; });
    nearby.slice(0, NEARBY_LIMIT).forEach(function (r) { r.relation = "nearby"; });
    var points = rows.filter(function (r) { return r.point; });
    var beyond = null;
    if (points.length && !points.some(function (r) { return r.km <= RADIUS_KM; })) {
      var closest = points[0];
      points.forEach(function (r) { if (r.km < closest.km) closest = r; });
      beyond = closest;
      if (!closest.serves) closest.relation = "nearest, beyond " + RADIUS_KM + " km";
    }
    var listed = rows.filter(function (r) { return r.relation; });
    listed.forEach(function (r) { r.shown = r.point ? round1(r.km) : NaN; });
    listed.sort(function (a, b) {
      var ga = a.relation === "serves this area" ? 0 : 1;
      var gb = b.relation === "serves this area" ? 0 : 1;
      if (ga !== gb) return ga - gb;
      var sa = SCOPE_CODE[a.service.s];
      var sb = SCOPE_CODE[b.service.s];
      if (sa !== sb) return sa - sb;
      var na = isNaN(a.shown);
      var nb = isNaN(b.shown);
      if (na !== nb) return na ? 1 : -1;
      if (!na && a.shown !== b.shown) return a.shown - b.shown;
      var la = a.service.n.toLowerCase();
      var lb = b.service.n.toLowerCase();
      if (la !== lb) return la < lb ? -1 : 1;
      return a.order - b.order;
    });
    return {listed: listed, beyond: beyond, total: services.length};
  }

  // --- the answer on the page --------------------------------------------------------------

  function h(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (attrs[name] !== undefined && attrs[name] !== null) node.setAttribute(name, attrs[name]);
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === "") return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function forceLink(ui, force) {
    var entry = store.index.forces[force];
    var slug = store.services.profiles[entry[0]];
    if (!slug) return h("span", {}, [entry[1]]);
    return h("a", {href: ui.profiles + slug + ".html", target: ui.top ? "_top" : null},
      [entry[1]]);
  }

  function districtName(d) {
    return store.index.districts[d][0] || "an area outside England and Wales";
  }

  function findLink(ui, text) {
    return h("a", {href: "#find=" + encodeURIComponent(text), "data-find": text}, [text]);
  }

  function describePlace(ui, place) {
    var parts = [];
    var forces = [];
    place.districts.forEach(function (d) {
      var f = forceOf(d);
      if (forces.indexOf(f) < 0) forces.push(f);
    });
    var n = place.districts.length;
    var centre = place.centre !== null ? ", in " + districtName(place.centre) : "";
    var lead = place.label + " is a " + (KIND_WORDS[place.kind] || place.kind);
    if (place.kind === "postcode" || place.kind === "town") {
      parts.push(h("p", {}, [lead + " in " + districtName(place.districts[0]) +
        ", in the police force area of ", forceLink(ui, forces[0]), "."]));
    } else if (place.kind === "f") {
      parts.push(h("p", {}, [lead + " of " + n + " local authority district" +
        (n === 1 ? "" : "s") + "; its profile: ", forceLink(ui, forces[0]),
        ". Distances are from its centre."]));
    } else if (n === 1) {
      var inside = place.kind === "d" ? "" : " in " + districtName(place.districts[0]) + ",";
      parts.push(h("p", {}, [lead + inside + " in the police force area of ",
        forceLink(ui, forces[0]), "; distances are from its centre" + centre + "."]));
    } else {
      parts.push(h("p", {}, [lead + "; distances are from its centre" + centre + "."]));
      var spans = "It spans " + n + " local authority districts" +
        (forces.length > 1 ? " in " + forces.length + " police force areas" : "") +
        ": services serving any of them are listed.";
      parts.push(h("p", {class: forces.length > 1 ? "sm-find-spans" : null}, [spans]));
      var items = forces.map(function (f) {
        var names = place.districts.filter(function (d) { return forceOf(d) === f; })
          .map(districtName);
        return h("li", {}, [forceLink(ui, f), ": " + names.join(", ")]);
      });
      parts.push(h("ul", {class: "sm-find-areas"}, items));
    }
    if (place.partlyOutside) {
      parts.push(h("p", {}, ["Part of it is outside England and Wales, which this report does " +
        "not cover."]));
    }
    return parts;
  }

  function serviceItem(ui, row) {
    var s = row.service;
    var name = [h("strong", {}, [s.n])];
    if (s.o && s.o !== s.n) name.push(" (" + s.o + ")");
    var details = [];
    if (s.t) details.push(h("li", {}, ["Offers: " + s.t]));
    var forWhom = [s.f].concat(s.cm).filter(Boolean).join("; ");
    if (forWhom) details.push(h("li", {}, ["For: " + forWhom]));
    if (s.l.length) details.push(h("li", {}, ["Languages: " + s.l.join(", ")]));
    var flags = [];
    flags.push(s.b === "yes" ? "By and for the communities it serves" :
      s.b === "no" ? "Not 'by and for'" : "'By and for': not known");
    flags.push(s.r === "yes" ? "supports women with no recourse to public funds (NRPF)" :
      s.r === "no" ? "no NRPF support" : "NRPF support: not known");
    details.push(h("li", {}, [flags.join("; ") + "."]));
    var reach = [];
    if (s.w) {
      reach.push("Website: ");
      reach.push(h("a", {href: s.w, rel: "noopener noreferrer", target: ui.top ? "_top" : null},
        [s.w.replace(/^https?:\/\//, "").replace(/\/$/, "")]));
    }
    if (s.p) reach.push((reach.length ? ". " : "") + "Phone: " + s.p);
    if (!reach.length) reach.push("No website or phone listed");
    details.push(h("li", {}, reach.concat([". Last seen " + s.seen + "."])));
    if (s.c) {
      details.push(h("li", {class: "sm-find-private"}, ["Serves this area. Its location is " +
        "confidential and never shown; contact it by the details above."]));
    } else if (row.point) {
      var where = (s.m ? s.m + "; " : "") + (s.a ? "at " + s.a + ", " : "");
      details.push(h("li", {}, ["In person " + where + row.shown.toFixed(1) +
        " km away (straight line)."]));
    } else if (s.m) {
      details.push(h("li", {}, ["Delivery: " + s.m + "."]));
    }
    return h("li", {class: "sm-find-service", "data-name": s.n, "data-relation": row.relation,
      "data-scope": s.s, "data-km": row.point ? row.shown.toFixed(1) : null,
      "data-private": s.c ? "1" : null}, [h("p", {class: "sm-find-name"}, name),
      h("ul", {}, details)]);
  }

  function answerNodes(ui, place, help) {
    var nodes = [h("h2", {class: "sm-find-title"}, ["Help near " + place.label])];
    nodes = nodes.concat(describePlace(ui, place));
    var serving = help.listed.filter(function (r) { return r.relation === "serves this area"; });
    var nearby = help.listed.filter(function (r) { return r.relation !== "serves this area"; });
    var note = ui.filterNote();
    if (note) nodes.push(h("p", {class: "sm-find-filtered"}, [note]));
    nodes.push(h("h3", {}, ["Services whose area includes it (" + serving.length + ")"]));
    if (!serving.length) nodes.push(h("p", {}, ["None listed in the directory."]));
    ["local", "regional", "national"].forEach(function (scope) {
      var rows = serving.filter(function (r) { return r.service.s === scope; });
      if (!rows.length) return;
      nodes.push(h("h4", {}, [scope.charAt(0).toUpperCase() + scope.slice(1) + " (" +
        rows.length + ")"]));
      nodes.push(h("ul", {class: "sm-find-list"}, rows.map(function (r) {
        return serviceItem(ui, r);
      })));
    });
    nodes.push(h("h3", {}, ["In-person services nearby"]));
    var within = nearby.filter(function (r) { return r.relation === "nearby"; });
    if (within.length) {
      nodes.push(h("p", {}, ["Public places within " + RADIUS_KM + " km that do not list this " +
        "area, nearest first (straight-line distances):"]));
      nodes.push(h("ul", {class: "sm-find-list"}, within.map(function (r) {
        return serviceItem(ui, r);
      })));
    }
    if (help.beyond) {
      var b = help.beyond;
      nodes.push(h("p", {class: "sm-find-beyond"}, ["No in-person service is within " +
        RADIUS_KM + " km. The nearest is " + b.service.n + ", " + round1(b.km).toFixed(1) +
        " km away in a straight line" + (b.serves ? " (listed above)." : ":")]));
      if (!b.serves) nodes.push(h("ul", {class: "sm-find-list"}, [serviceItem(ui, b)]));
    } else if (!within.length) {
      nodes.push(h("p", {}, ["The in-person services within " + RADIUS_KM + " km serve this " +
        "area: they are listed above, with their distances."]));
    }
    return nodes;
  }

  function messageNodes(ui, result) {
    var nodes = [h("p", {class: "sm-find-message"}, [result.message])];
    if (result.suggestions && result.suggestions.length) {
      var items = [];
      result.suggestions.forEach(function (name, k) {
        if (k) items.push(k === result.suggestions.length - 1 ? " or " : ", ");
        items.push(findLink(ui, name));
      });
      nodes.push(h("p", {}, ["Did you mean "].concat(items, ["?"])));
    } else if (result.suggestions) {
      nodes.push(h("p", {}, ["Check the spelling, or " + FORMS + "."]));
    }
    return nodes;
  }

  function choiceNodes(ui, towns) {
    return [h("p", {}, ["There are " + towns.length + " places called " + towns[0].name +
      ". Which one?"]), h("ul", {}, towns.map(function (t) {
      return h("li", {}, [findLink(ui, t.name + ", " + districtName(t.district))]);
    }))];
  }

  // --- the form ----------------------------------------------------------------------------

  function readFilters(form) {
    var value = function (name) {
      var field = form.querySelector("[name=" + name + "]");
      return field ? (field.type === "checkbox" ? field.checked : field.value) : "";
    };
    return {kind: value("kind"), language: value("language"), community: value("community"),
      byAndFor: value("byandfor"), nrpf: value("nrpf")};
  }

  function start(container) {
    var form = container.querySelector("form.sm-find-form");
    if (!form || form.getAttribute("data-started")) return;
    form.setAttribute("data-started", "1");
    var box = form.closest(".sm-find");
    var results = box.querySelector(".sm-find-results");
    var input = form.querySelector("input[type=search]");
    var embedded = form.getAttribute("data-where") === "map" && root.top !== root.self;
    if (embedded) {
      // The map inside index.html: the index has its own box.
      container.style.display = "none";
      return;
    }
    var ui = {base: form.getAttribute("data-base") || "",
      profiles: form.getAttribute("data-profiles") || "forces/",
      top: form.getAttribute("data-where") === "map", last: null};
    ui.filterNote = function () {
      var f = readFilters(form);
      var said = [];
      if (f.kind) said.push(form.querySelector("[name=kind]").selectedOptions[0].text);
      if (f.language) said.push("in " + f.language);
      if (f.community) said.push("for " + f.community);
      if (f.byAndFor) said.push("'by and for'");
      if (f.nrpf) said.push("supporting NRPF");
      return said.length ? "Filtered: only services " + said.join(", ") + "." : "";
    };

    function show(nodes, query) {
      results.textContent = "";
      if (ui.top && nodes.length) {
        // On the map the answer covers part of it: one button puts it away.
        var close = h("button", {type: "button", class: "sm-find-close"}, ["Close the answer"]);
        close.addEventListener("click", function () {
          results.textContent = "";
          input.focus();
        });
        results.appendChild(close);
      }
      nodes.forEach(function (n) { results.appendChild(n); });
      results.setAttribute("data-query", query);
    }

    function answer(query) {
      query = query.trim();
      if (!query) {
        show([], "");
        return Promise.resolve();
      }
      results.setAttribute("aria-busy", "true");
      show([h("p", {}, ["Looking up " + query + "…"])], "");
      var parsed = parsePostcode(query);
      var files = [load(ui.base + "postcodes/index.js"), load(ui.base + "search-services.js")];
      if (!parsed) {
        files.push(load(ui.base + "postcodes/places.js"), load(ui.base + "postcodes/towns.js"));
      }
      var started = performance.now();
      return Promise.all(files).then(function () {
        return parsed ? postcodePlace(ui.base, parsed) : namedPlace(query);
      }).then(function (place) {
        ui.last = {query: query, place: place};
        render(query, place);
        // How long the answer took once its data files were in (decoding included), and in all.
        var done = performance.now();
        var dataIn = Math.max(started, store.loadedAt || started);
        results.setAttribute("data-answer-ms", (done - dataIn).toFixed(1));
        results.setAttribute("data-total-ms", (done - started).toFixed(1));
      }).catch(function (error) {
        show([h("p", {class: "sm-find-message"}, [String(error.message || error)])], query);
      }).then(function () {
        results.removeAttribute("aria-busy");
      });
    }

    function render(query, place) {
      if (place.message) {
        show(messageNodes(ui, place), query);
      } else if (place.choices) {
        show(choiceNodes(ui, place.choices), query);
      } else {
        show(answerNodes(ui, place, whoCanHelp(place, readFilters(form))), query);
      }
    }

    function remember(query) {
      var hash = "#find=" + encodeURIComponent(query);
      if (root.location.hash === hash) return;
      try {
        root.history.replaceState(null, "", hash);
      } catch (e) {
        root.location.hash = hash;
      }
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      remember(input.value.trim());
      answer(input.value);
    });
    form.addEventListener("change", function (event) {
      if (event.target === input || !ui.last) return;
      render(ui.last.query, ui.last.place);
    });
    results.addEventListener("click", function (event) {
      var link = event.target.closest ? event.target.closest("a[data-find]") : null;
      if (!link) return;
      event.preventDefault();
      input.value = link.getAttribute("data-find");
      remember(input.value);
      answer(input.value);
    });

    function fromAddress() {
      var match = /^#find=(.*)$/.exec(root.location.hash);
      if (!match) return;
      var query;
      try {
        query = decodeURIComponent(match[1].replace(/\+/g, " "));
      } catch (e) {
        query = match[1];
      }
      if (query === input.value && ui.last && ui.last.query === query.trim()) return;
      input.value = query;
      answer(query);
    }
    root.addEventListener("hashchange", fromAddress);
    fromAddress();
    ui.answer = answer;
    box.smFind = ui;
  }

  var api = {start: start, decodeShard: decodeShard, decodeVarints: decodeVarints,
    inwardText: inwardText, inwardCode: inwardCode, areaKey: areaKey, editDistance: editDistance,
    parsePostcode: parsePostcode, districtSet: districtSet};
  root.smFind = api;
  if (typeof document !== "undefined") {
    var startAll = function () {
      Array.prototype.forEach.call(document.querySelectorAll(".sm-find"), function (box) {
        start(box.parentNode);
      });
    };
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", startAll);
    } else {
      startAll();
    }
  }
  if (typeof module === "object" && module.exports) module.exports = api;
})(typeof window !== "undefined" ? window : globalThis);
