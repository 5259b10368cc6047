/*
 * store.js - the app's state (one reactive object) and the actions that
 * change it: loading the layer list, choosing an area, running and
 * exporting its report.
 *
 * Why a plain reactive object rather than a state library: the app has one
 * page and a handful of fields; components read `state` and call the
 * actions, and the map (MapView) watches the fields it draws.
 *
 * State layout:
 *   layers        the server's layers (/api/layers), in server order
 *   layerView     name -> {on, opacity, style}: the switcher's choices
 *   basemap       whether the land/borders background is drawn
 *   drawMode      null | 'polygon' | 'rectangle': the active drawing tool
 *   area          null | {feature (GeoJSON object), text (the body sent),
 *                  source: 'polygon'|'rectangle'|'view'|'file', name, lonlat}
 *   report        null | the report JSON of `area` (docs/report.md)
 *   reportError   null | {code, message, status}
 *   loading       a report request is in flight
 *   reportCount   reports received so far
 */
import { reactive } from 'vue'
import { getHealth, getLayers, postReport } from './api.js'
import { bboxFeature, checkUpload } from './geo.js'
import { download, fileStem, startLayer } from './format.js'

export const state = reactive({
  health: null,
  healthError: null,
  layers: [],
  layersError: null,
  layersLoaded: false,
  layerView: {},
  basemap: true,
  drawMode: null,
  mapBounds: null, // [west, south, east, north] of the map view
  area: null,
  report: null,
  reportError: null,
  loading: false,
  exporting: null,
  reportCount: 0, // reports received so far (also marks the DOM for tests: data-reports)
  notice: '', // polite status line for screen readers
})

let reportSeq = 0
let reportAbort = null

function errorOf(err) {
  return { status: err.status ?? 0, code: err.code || 'ERROR', message: err.message || String(err) }
}

export async function loadHealth() {
  try {
    state.health = await getHealth()
    state.healthError = null
  } catch (err) {
    state.healthError = errorOf(err)
  }
}

export async function loadLayers() {
  try {
    const j = await getLayers()
    const layers = Array.isArray(j.layers) ? j.layers : []
    for (const l of layers) {
      if (!state.layerView[l.name])
        state.layerView[l.name] = { on: false, opacity: 0.8, style: l.styles?.[0]?.name || '' }
    }
    // Show one layer at start so the map is never empty: species richness
    // (the atlas's headline map) when there is one, else the first layer.
    if (!state.layersLoaded && layers.length && !layers.some((l) => state.layerView[l.name].on))
      state.layerView[startLayer(layers).name].on = true
    state.layers = layers
    state.layersError = null
  } catch (err) {
    state.layersError = errorOf(err)
  } finally {
    state.layersLoaded = true
  }
}

/* Sets the area and runs its report. feature: a GeoJSON object; text: the
 * exact body to send (defaults to JSON of feature). */
export function setArea({ feature, text, source, name, lonlat = true }) {
  state.area = { feature, text: text ?? JSON.stringify(feature), source, name: name || source, lonlat }
  state.drawMode = null
  return runReport()
}

export function clearArea() {
  if (reportAbort) reportAbort.abort()
  state.area = null
  state.report = null
  state.reportError = null
  state.loading = false
  state.notice = 'Area cleared'
}

export function useMapView() {
  const b = state.mapBounds
  if (!b) return null
  return setArea({ feature: bboxFeature(b[0], b[1], b[2], b[3], { name: 'map view' }), source: 'view', name: 'map view' })
}

/* Reads a File chosen by the user; sets it as the area when it is a
 * polygon GeoJSON, else sets reportError. */
export async function uploadFile(file) {
  let text
  try {
    text = await file.text()
  } catch (err) {
    state.reportError = { status: 0, code: 'IO', message: `${file.name}: cannot read the file (${err.message})` }
    return
  }
  const c = checkUpload(text, file.size)
  if (!c.ok) {
    state.report = null
    state.reportError = { status: 0, code: 'FORMAT', message: `${file.name}: ${c.message}` }
    return
  }
  return setArea({ feature: c.geojson, text, source: 'file', name: file.name, lonlat: c.lonlat })
}

export async function runReport() {
  if (!state.area) return
  if (reportAbort) reportAbort.abort()
  const ctrl = new AbortController()
  reportAbort = ctrl
  const seq = ++reportSeq
  state.loading = true
  state.reportError = null
  state.notice = 'Computing the report…'
  try {
    const r = await postReport(state.area.text, { signal: ctrl.signal })
    if (seq !== reportSeq) return
    state.report = r
    state.reportCount++
    state.notice = `Report ready: ${r.counts?.species ?? 0} species`
  } catch (err) {
    if (err.name === 'AbortError' || seq !== reportSeq) return
    state.report = null
    state.reportError = errorOf(err)
    state.notice = `Report failed: ${err.message}`
  } finally {
    if (seq === reportSeq) {
      state.loading = false
      reportAbort = null
    }
  }
}

/* Exports: JSON from memory (the report as received), CSV and GeoJSON
 * from the server (the same area posted again with format=csv|geojson). */
export async function exportReport(kind) {
  if (!state.report || !state.area) return
  const stem = fileStem(state.area.name)
  if (kind === 'json') {
    download(new Blob([JSON.stringify(state.report, null, 2) + '\n'], { type: 'application/json' }), `${stem}.json`)
    return
  }
  state.exporting = kind
  try {
    let blob
    let name
    if (kind === 'geojson') {
      blob = await postReport(state.area.text, { format: 'geojson' })
      name = `${stem}.geojson`
    } else {
      const what = kind === 'csv-habitats' ? 'habitats' : 'species'
      blob = await postReport(state.area.text, { format: 'csv', csv: what })
      name = `${stem}-${what}.csv`
    }
    download(blob, name)
    state.notice = `Saved ${name}`
  } catch (err) {
    state.reportError = errorOf(err)
  } finally {
    state.exporting = null
  }
}
