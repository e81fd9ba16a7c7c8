// Live events: the server's change feed (GET /api/events, server-sent events). Each entry change
// refetches the tiles when it can be seen, then goes out on the bus as `entry-event` (the
// courante and the popups follow it); the header's badge shows the stream's state. Reconnecting
// after a failure (the server ends the stream when the catalog changes) re-reads the catalog.
// The situation reports' events (unnumbered: not in the log's sequence, never replayed) go out
// on the bus as `report-event`; `live-resumed` tells their listeners that some may have been
// missed while the stream was down.

import { t } from './i18n.js';
import { $ } from './dom.js';
import { wsUrl } from './app.js';

/** How often a stream EventSource gave up on is reopened, ms. */
const REOPEN_EVERY_MS = 15_000;
/** Situation reports' events (reports.js follows them). */
const REPORT_EVENTS = ['report.created', 'report.section', 'report.status', 'report.published', 'report.presence'];

/** The event stream, bound to the page's shared `app`. */
export function createLive(app) {
  /** Whether the stream failed since it was last open (its next opening is a reconnection). */
  let broken = false;

  /**
   * A change the server announced (it invalidated the tiles before telling us): refetch now if
   * it touches a visible layer in view, else only at the next move (tiles kept out of view
   * could be stale by then). Refetching means a new `rev`: every tile in view is asked again;
   * MapLibre skips re-parsing those whose ETag did not change.
   */
  function onChange(data) {
    const vis = app.visible();
    const heatOn = app.catalog.layers.some((l) => l.kind === 'h3' && vis.has(l.id));
    const layerHit = heatOn || !Array.isArray(data.layers) || data.layers.some((id) => vis.has(id));
    let inView = true;
    const b = data.bbox;
    if (Array.isArray(b) && b.length === 4 && app.map) {
      const v = app.map.getBounds();
      // A margin of half a view: MapLibre keeps the tiles just around the view too.
      const dx = (v.getEast() - v.getWest()) / 2;
      const dy = (v.getNorth() - v.getSouth()) / 2;
      inView = !(b[2] < v.getWest() - dx || b[0] > v.getEast() + dx || b[3] < v.getSouth() - dy || b[1] > v.getNorth() + dy);
    }
    if (layerHit && inView) app.refreshTiles();
    else app.staleTiles = true;
  }

  function connect() {
    const live = $('live');
    const setState = (state, key) => {
      live.dataset.state = state;
      const text = $('live-text');
      text.dataset.i18n = key;
      text.textContent = t(key);
    };
    // After a reconnection of our own, resume after the last event seen (the server replays
    // what was missed); EventSource's own reconnections send Last-Event-ID.
    const es = new EventSource(wsUrl(app.lastSeq ? `/api/events?since=${app.lastSeq}` : '/api/events'));
    app.events = es;
    es.onopen = () => {
      setState('on', 'live.on');
      // The server ends the stream when the catalog changes (and anything may have changed while
      // it was down): back on it, the page checks the catalog's version.
      if (broken) {
        broken = false;
        app.refreshCatalog().catch((e) => console.warn('vigie: catalog reload failed', e));
        app.emit('live-resumed');
      }
    };
    es.onerror = () => {
      broken = true;
      const closed = es.readyState === EventSource.CLOSED;
      setState(closed ? 'off' : 'connecting', closed ? 'live.off' : 'live.connecting');
      // EventSource hides the status of a refusal: a 401 (session gone) shows in GET /api/me.
      if (closed && app.events === es) app.session.check();
    };
    for (const type of ['entry.created', 'entry.updated', 'entry.deleted']) {
      es.addEventListener(type, (ev) => {
        let data;
        try {
          data = JSON.parse(ev.data);
        } catch {
          return;
        }
        if (Number(ev.lastEventId) > (app.lastSeq || 0)) app.lastSeq = Number(ev.lastEventId);
        onChange(data);
        app.emit('entry-event', { type, data });
      });
    }
    for (const type of REPORT_EVENTS) {
      es.addEventListener(type, (ev) => {
        let data;
        try {
          data = JSON.parse(ev.data);
        } catch {
          return;
        }
        app.emit('report-event', { type, data });
      });
    }
  }

  /** Closes the event stream and opens it again (resuming after the last event seen). */
  function reconnect() {
    app.events?.close();
    connect();
  }

  /** Opens the stream and keeps it open. */
  function start() {
    connect();
    // EventSource reconnects by itself (sending Last-Event-ID); a stream it gave up on is reopened.
    // Not while the page waits for a sign-in: signing in reconnects.
    setInterval(() => {
      if (app.events.readyState === EventSource.CLOSED && !app.session.isOpen()) connect();
    }, REOPEN_EVERY_MS);
  }

  return { start, reconnect };
}
