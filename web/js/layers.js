// The layer panel: the catalog's layers grouped by theme, one checkbox each (with its feature
// count), the basemap's switches (shown, greyscale) when there is one, and the legend (severity
// sizes, qualification opacities, perimeter colours of the base style, the heat ramp, the
// clusters' severity colours, the staffing places' coverage). A tile archive the server cannot
// serve now (GET /catalog's `unavailable`) stays listed, its checkbox disabled and the reason
// given: the basemap's under its switches, another archive's as its line's tooltip.

import { t, currentLang, title } from './i18n.js';
import { h, $, replace } from './dom.js';
import { STAFFING_COVERAGE, THINNABLE_KINDS, SEVERITY_COLOURS, NO_SEVERITY_COLOUR, isArchive, unavailableReason } from './style.js';

/** Accent of the basemap's checkboxes (it has no theme colour). */
const BASEMAP_SWATCH = '#78909c';

/**
 * The basemap's group: shown or hidden, and greyscale for a raster one (the catalog's or a
 * `?basemap=` template). A vector basemap is drawn in greys already: no greyscale box for it.
 * When the server cannot serve the catalog's basemap now, the group stays to say so and why,
 * its switches disabled (but for a `?basemap=` raster, which they still show and grey). Null
 * when the page has no basemap.
 */
function basemapGroup(app) {
  const layer = app.layersById.get(app.catalog.basemap) || null;
  if (!layer && !app.basemap) return null;
  const reason = unavailableReason(layer);
  // Nothing drawn for the switches to act on: they are off and disabled.
  const inert = !!reason && !app.basemap;
  const raster = !!app.basemap || layer.format !== 'mvt';
  const box = (id, label, checked, onchange, tip = '') =>
    h(
      'label',
      { class: inert ? 'layer-toggle unavailable' : 'layer-toggle', style: { '--swatch': BASEMAP_SWATCH }, title: tip },
      h('input', { type: 'checkbox', id, checked: checked && !inert, disabled: inert, onchange: (e) => onchange(e.target.checked) }),
      h('span', {}, label),
    );
  const tip = layer ? [title(layer), layer.description].filter(Boolean).join(' — ') : '';
  return h(
    'fieldset',
    { class: 'theme-group', 'data-basemap': layer?.id || '' },
    h('legend', {}, h('span', { class: 'swatch', style: { '--swatch': BASEMAP_SWATCH }, 'aria-hidden': 'true' }), t('basemap.title')),
    box('basemap-toggle', t('basemap.toggle'), app.state.basemap, (on) => app.tiles.setBasemap({ shown: on }), tip),
    raster ? box('basemap-greyscale', t('basemap.greyscale'), app.state.greyscale, (on) => app.tiles.setBasemap({ greyscale: on }), t('basemap.greyscale.title')) : null,
    reason ? h('p', { class: 'note', id: 'basemap-unavailable' }, t('basemap.unavailable', { reason })) : null,
  );
}

/** A catalog layer's line under its theme: its checkbox, title and feature count. */
function layerToggle(app, l, colour, vis) {
  // An archive the server cannot serve now has no source to show: its line says why instead.
  const reason = unavailableReason(l);
  return h(
    'label',
    { class: reason ? 'layer-toggle unavailable' : 'layer-toggle', style: { '--swatch': colour }, title: reason ? t('layers.unavailable', { reason }) : l.description || '' },
    h('input', {
      type: 'checkbox',
      id: `layer-${l.id}`,
      'data-layer': l.id,
      checked: vis.has(l.id) && !reason,
      disabled: !!reason,
      onchange: (e) => app.tiles.setVisible(l.id, e.target.checked),
    }),
    h('span', {}, title(l)),
    // A staffing layer is computed per tile, an archive holds tiles: no count of their own.
    Number.isFinite(l.features) && l.kind !== 'staffing' && !isArchive(l) ? h('span', { class: 'count', 'aria-hidden': 'true' }, l.features.toLocaleString(currentLang())) : null,
  );
}

/** The layer panel, bound to the page's shared `app`; renders the list and the legend. */
export function createLayerPanel(app) {
  function renderList() {
    const vis = app.visible();
    // The basemap is listed apart, after the themes (it is drawn under all of them).
    const groups = app.catalog.themes
      .map((th) => ({ th, layers: app.catalog.layers.filter((l) => l.theme === th.id && !app.isBasemap(l.id)) }))
      .filter((g) => g.layers.length);
    replace(
      $('layer-groups'),
      groups.map(({ th, layers }) =>
        h(
          'fieldset',
          { class: 'theme-group' },
          h('legend', {}, h('span', { class: 'swatch', style: { '--swatch': th.color }, 'aria-hidden': 'true' }), title(th)),
          layers.map((l) => layerToggle(app, l, th.color, vis)),
        ),
      ),
      basemapGroup(app),
    );
  }

  function renderLegend() {
    const fg = getComputedStyle(document.body).getPropertyValue('--fg-muted').trim() || '#4b5563';
    const pc = app.perimeterColours;
    const hasPerimeters = app.catalog.layers.some((l) => l.kind === 'perimeters');
    const hasHeat = app.catalog.layers.some((l) => l.kind === 'h3');
    const hasStaffing = app.catalog.layers.some((l) => l.kind === 'staffing');
    const hasClusters = app.catalog.layers.some((l) => THINNABLE_KINDS.has(l.kind));
    replace(
      $('legend'),
      h('div', { class: 'legend-title' }, t('legend.severity')),
      h(
        'div',
        { class: 'legend-row' },
        [0, 1, 2, 3, 4].map((s) => {
          const d = 6 + s * 3;
          return h('span', { class: 'legend-row', title: t(`severity.${s}`) }, h('span', { class: 'sev-dot', style: { width: `${d}px`, height: `${d}px`, background: fg } }), String(s));
        }),
      ),
      h('div', { class: 'legend-title' }, t('legend.qualification')),
      h(
        'div',
        { class: 'legend-row' },
        [
          ['confirmed', 0.95],
          ['in_review', 0.7],
          ['closed', 0.55],
          ['refuted', 0.4],
        ].map(([q, o]) => h('span', { class: 'legend-row' }, h('span', { class: 'q-dot', style: { opacity: String(o) } }), t(`qualification.${q}`))),
      ),
      hasPerimeters ? h('div', { class: 'legend-title' }, t('legend.perimeters')) : null,
      hasPerimeters
        ? h(
            'div',
            { class: 'legend-row' },
            ['silt', 'red', 'blue'].map((k) => h('span', { class: 'legend-row' }, h('span', { class: 'swatch', style: { '--swatch': pc[k] } }), t(`perimeter.${k}`))),
          )
        : null,
      hasHeat ? h('div', { class: 'legend-title' }, t('legend.heat')) : null,
      hasHeat ? h('div', { class: 'heat-ramp', role: 'img', 'aria-label': t('legend.heat') }) : null,
      hasHeat ? h('p', { class: 'note' }, t('legend.heat.note')) : null,
      hasClusters ? h('div', { class: 'legend-title' }, t('legend.clusters')) : null,
      hasClusters
        ? h(
            'div',
            { class: 'legend-row', 'data-legend': 'clusters' },
            SEVERITY_COLOURS.map((colour, s) => h('span', { class: 'legend-row', title: t(`severity.${s}`) }, h('span', { class: 'swatch round', style: { '--swatch': colour } }), String(s))),
            h('span', { class: 'legend-row' }, h('span', { class: 'swatch round', style: { '--swatch': NO_SEVERITY_COLOUR } }), t('legend.clusters.none')),
          )
        : null,
      hasClusters ? h('p', { class: 'note' }, t('legend.clusters.note')) : null,
      hasStaffing ? h('div', { class: 'legend-title' }, t('legend.staffing')) : null,
      hasStaffing
        ? h(
            'div',
            { class: 'legend-row' },
            Object.entries(STAFFING_COVERAGE).map(([k, colour]) => h('span', { class: 'legend-row' }, h('span', { class: 'swatch round', style: { '--swatch': colour } }), t(`staffing.coverage.${k}`))),
          )
        : null,
    );
  }

  renderList();
  renderLegend();
  return { renderList, renderLegend };
}
