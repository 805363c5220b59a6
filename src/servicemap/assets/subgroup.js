/* servicemap: a minimal L.featureGroup.subGroup, so several layer-control overlays can share one
 * marker cluster. Same API as the Leaflet.FeatureGroup.SubGroup plugin that folium expects
 * (written from the Leaflet API, not copied): a sub-group keeps its own layers and, while it is
 * on the map, hands them to its parent group (a MarkerClusterGroup) instead of the map. */
(function () {
  "use strict";
  function addAll(parent, layers) {
    if (typeof parent.addLayers === "function") { parent.addLayers(layers); }
    else { layers.forEach(function (layer) { parent.addLayer(layer); }); }
  }
  function removeAll(parent, layers) {
    if (typeof parent.removeLayers === "function") { parent.removeLayers(layers); }
    else { layers.forEach(function (layer) { parent.removeLayer(layer); }); }
  }
  L.FeatureGroup.SubGroup = L.FeatureGroup.extend({
    initialize: function (parentGroup, layers) {
      L.FeatureGroup.prototype.initialize.call(this, layers);
      this._parentGroup = parentGroup;
    },
    addLayer: function (layer) {
      this._layers[this.getLayerId(layer)] = layer;
      if (this._map) { this._parentGroup.addLayer(layer); }
      return this;
    },
    removeLayer: function (layer) {
      var id = layer in this._layers ? layer : this.getLayerId(layer);
      var found = this._layers[id];
      if (found && this._map) { this._parentGroup.removeLayer(found); }
      delete this._layers[id];
      return this;
    },
    // Many layers at once: one bulk call to the parent (a cluster re-clusters once).
    addLayers: function (layers) {
      layers.forEach(function (layer) { this._layers[this.getLayerId(layer)] = layer; }, this);
      if (this._map) { addAll(this._parentGroup, layers); }
      return this;
    },
    removeLayers: function (layers) {
      layers.forEach(function (layer) { delete this._layers[this.getLayerId(layer)]; }, this);
      if (this._map) { removeAll(this._parentGroup, layers); }
      return this;
    },
    onAdd: function (map) {
      this._map = map;
      addAll(this._parentGroup, this.getLayers());
    },
    onRemove: function () {
      removeAll(this._parentGroup, this.getLayers());
      this._map = null;
    }
  });
  L.featureGroup.subGroup = function (parentGroup, layers) {
    return new L.FeatureGroup.SubGroup(parentGroup, layers);
  };
})();
