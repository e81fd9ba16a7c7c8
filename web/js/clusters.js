// Clusters of thinned tiles. A layer whose tile holds more than its share of the tile budget
// comes as clusters (points carrying `point_count`, `max_severity`, `n_<theme>`) instead of
// its features; style.js draws them (a circle by count and worst severity, ringed in the
// layer's colour). This module writes their counts — the style has no glyphs, so each label is
// an image drawn here when the map asks for it — and zooms into a cluster that is clicked
// rather than opening a popup: a cluster is not a feature, its features come back as the tiles
// of higher zooms hold them.

import { CLUSTER_LABEL } from './style.js';

/** Zoom levels a click on a cluster zooms in by. */
export const CLUSTER_ZOOM_STEP = 2;
/** Half the side of the box under a click in which a cluster is found, px (as for popups). */
const PICK_BOX_PX = 5;
/** What a count label may say (style.js `CLUSTER_COUNT_TEXT`): 7, 950, 1.2k, 12k, 3.4M. */
const LABEL_TEXT = /^\d{1,4}(\.\d)?[kM]?$/;

/**
 * The image of a cluster's count label (`cluster-count-1.2k`): the count in white over a dark
 * halo, readable on every severity colour. Null for any other image.
 * @param {string} id image id the map asked for
 * @returns {{image: ImageData, pixelRatio: number}|null}
 */
export function clusterLabelImage(id) {
  if (!id.startsWith(CLUSTER_LABEL)) return null;
  const text = id.slice(CLUSTER_LABEL.length);
  if (!LABEL_TEXT.test(text)) return null;
  const ratio = 2;
  const font = `700 ${11 * ratio}px system-ui, sans-serif`;
  const halo = 3 * ratio;
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d');
  ctx.font = font;
  const width = Math.ceil(ctx.measureText(text).width) + 2 * halo;
  const height = 13 * ratio + 2 * halo;
  canvas.width = width;
  canvas.height = height;
  ctx.font = font; // resizing the canvas reset it
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.lineJoin = 'round';
  ctx.lineWidth = halo;
  ctx.strokeStyle = 'rgba(17, 24, 39, 0.85)';
  ctx.strokeText(text, width / 2, height / 2 + ratio / 2);
  ctx.fillStyle = '#ffffff';
  ctx.fillText(text, width / 2, height / 2 + ratio / 2);
  return { image: ctx.getImageData(0, 0, width, height), pixelRatio: ratio };
}

/**
 * The clusters controller, bound to the page's shared `app` (its map built): draws the count
 * labels the map asks for; `{at, zoomInto, zoomAt}`.
 */
export function createClusters(app) {
  const map = app.map;

  map.on('styleimagemissing', (e) => {
    const label = clusterLabelImage(e.id);
    if (label && !map.hasImage(e.id)) map.addImage(e.id, label.image, { pixelRatio: label.pixelRatio });
  });

  /** The topmost cluster drawn under a screen point (`{x, y}`), or null. */
  function at(point) {
    const layers = app.clusterLayers.filter((id) => map.getLayer(id) && map.getLayoutProperty(id, 'visibility') !== 'none');
    if (!layers.length) return null;
    const box = [
      [point.x - PICK_BOX_PX, point.y - PICK_BOX_PX],
      [point.x + PICK_BOX_PX, point.y + PICK_BOX_PX],
    ];
    return map.queryRenderedFeatures(box, { layers })[0] || null;
  }

  /**
   * Centres the map on a cluster, `CLUSTER_ZOOM_STEP` levels closer (at most the map's
   * maxZoom), where its features spread over more tiles, each with a budget of its own.
   */
  function zoomInto(cluster) {
    map.easeTo({ center: cluster.geometry.coordinates, zoom: Math.min(map.getZoom() + CLUSTER_ZOOM_STEP, map.getMaxZoom()) });
  }

  return {
    at,
    zoomInto,
    /** Zooms into the cluster under a click, closing any popup: whether there was one. */
    zoomAt(point) {
      const cluster = at(point);
      if (!cluster) return false;
      app.popups.close();
      zoomInto(cluster);
      return true;
    },
  };
}
