// What the browser scenarios ask of the page's MapLibre map (`window.vigieMap`).

/** Rendered features of the vigie source, counted by layer. */
export const countsByLayer = (page) =>
  page.evaluate(() => {
    const c = {};
    for (const f of window.vigieMap.queryRenderedFeatures()) if (f.source === 'vigie') c[f.sourceLayer] = (c[f.sourceLayer] || 0) + 1;
    return c;
  });

/** Waits until the map is loaded and has every tile it asked for. */
export const waitIdle = (page) =>
  page.waitForFunction(() => window.vigieMap && window.vigieMap.loaded() && window.vigieMap.areTilesLoaded(), null, { timeout: 15_000, polling: 100 });

/** Waits until the map draws venues and at least one entry layer; the counts per layer. */
export async function mapRenders(page) {
  await page.waitForFunction(
    () => {
      const map = window.vigieMap;
      if (!map || !window.vigie.catalog) return false;
      const entryLayers = new Set(window.vigie.catalog.layers.filter((l) => l.kind === 'entries').map((l) => l.id));
      const drawn = map.queryRenderedFeatures().filter((f) => f.source === 'vigie');
      return drawn.some((f) => f.sourceLayer === 'venues') && drawn.some((f) => entryLayers.has(f.sourceLayer));
    },
    null,
    { timeout: 20_000, polling: 100 },
  );
  return countsByLayer(page);
}

/** A pixel of the map with no rendered feature within 24 px, near the centre: `{x, y, lon, lat}`. */
export const emptySpot = (page) =>
  page.evaluate(() => {
    const map = window.vigieMap;
    const { width, height } = map.getCanvas().getBoundingClientRect();
    for (let r = 0; r < 12; r += 1) {
      for (let a = 0; a < 12; a += 1) {
        const x = width / 2 + r * 30 * Math.cos((a * Math.PI) / 6);
        const y = height / 2 + r * 30 * Math.sin((a * Math.PI) / 6);
        if (x < 60 || y < 60 || x > width - 60 || y > height - 60) continue;
        const near = map.queryRenderedFeatures([
          [x - 24, y - 24],
          [x + 24, y + 24],
        ]).filter((f) => !/h3/.test(f.sourceLayer || ''));
        if (!near.length) {
          const ll = map.unproject([x, y]);
          return { x, y, lon: ll.lng, lat: ll.lat };
        }
      }
    }
    return null;
  });

/**
 * The RGBA of the map's pixels at `points` (CSS px), read from the WebGL drawing buffer in the
 * frame MapLibre just drew (the buffer is not kept after the frame is shown).
 */
export const pixels = (page, points) =>
  page.evaluate(
    (pts) =>
      new Promise((resolve) => {
        const map = window.vigieMap;
        map.once('render', () => {
          const canvas = map.getCanvas();
          const gl = canvas.getContext('webgl2') || canvas.getContext('webgl');
          const ratio = canvas.width / canvas.getBoundingClientRect().width;
          resolve(
            pts.map(({ x, y }) => {
              const px = new Uint8Array(4);
              gl.readPixels(Math.round(x * ratio), canvas.height - 1 - Math.round(y * ratio), 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
              return [...px];
            }),
          );
        });
        map.triggerRepaint();
      }),
    points,
  );
