/*
 * api.js - the server's HTTP interface as used by the app: /api/health,
 * /api/layers, POST /api/report, WMS GetFeatureInfo / GetLegendGraphic URLs
 * and XYZ tile URL templates.
 *
 * Why one module: every request goes through request(), which turns any
 * failure into an ApiError {status, code, message}: the server's JSON errors
 * ({"error":{"code","message"}}), WMS XML exceptions, plain-text errors and
 * network failures all reach the UI as one readable message.
 *
 * URLs are relative to the page, so the app works behind a reverse proxy and
 * under `npm run dev` (vite.config.js proxies them).
 */

export class ApiError extends Error {
  /* status: HTTP status (0 for a network failure); code: the server's error
   * code (e.g. "FORMAT", "TOOBIG") or a local one ("NETWORK", "HTTP"). */
  constructor(status, code, message) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
  }
}

/* Extracts a message from an error body: JSON {"error":{code,message}},
 * an OGC ServiceException (XML) or text. Returns {code, message}. */
export function parseErrorBody(status, contentType, text) {
  const ct = contentType || ''
  if (ct.includes('json') || /^\s*\{/.test(text)) {
    try {
      const j = JSON.parse(text)
      const e = j && j.error
      if (e && typeof e === 'object') return { code: String(e.code || 'HTTP'), message: String(e.message || '') }
      if (typeof e === 'string') return { code: 'HTTP', message: e }
    } catch {
      /* not JSON after all: fall through */
    }
  }
  if (ct.includes('xml') || /^\s*</.test(text)) {
    const m = /<ServiceException(?=[\s>])([^>]*)>([\s\S]*?)<\/ServiceException>/.exec(text)
    if (m) {
      const code = /code="([^"]*)"/.exec(m[1])
      return { code: code ? code[1] : 'WMS', message: m[2].trim() }
    }
  }
  const t = (text || '').trim()
  return { code: 'HTTP', message: t ? t.slice(0, 500) : `HTTP ${status}` }
}

/* fetch() wrapper: resolves to the Response when it is 2xx, throws ApiError
 * otherwise. */
export async function request(url, options = {}) {
  let resp
  try {
    resp = await fetch(url, options)
  } catch (err) {
    throw new ApiError(0, 'NETWORK', `cannot reach the server (${err.message || err})`)
  }
  if (!resp.ok) {
    const text = await resp.text().catch(() => '')
    const { code, message } = parseErrorBody(resp.status, resp.headers.get('Content-Type'), text)
    throw new ApiError(resp.status, code, message || `HTTP ${resp.status}`)
  }
  return resp
}

export async function requestJson(url, options) {
  const resp = await request(url, options)
  const text = await resp.text()
  try {
    return JSON.parse(text)
  } catch {
    throw new ApiError(resp.status, 'FORMAT', `${url}: the server answered with something that is not JSON`)
  }
}

export function getHealth() {
  return requestJson('/api/health')
}

/* {generation, layers:[{name,title,abstract,group,dtype,crs,version,bbox,
 * width,height,tiles,cog,styles:[{name,kind,legend,...}]}]} */
export function getLayers() {
  return requestJson('/api/layers')
}

/* POST /api/report. body: GeoJSON text (Polygon, MultiPolygon, Feature,
 * FeatureCollection). format: json (parsed and returned) or csv/geojson
 * (a Blob is returned). */
export async function postReport(body, { format = 'json', csv = 'species', signal } = {}) {
  const q = new URLSearchParams({ format })
  if (format === 'csv') q.set('csv', csv)
  const opts = { method: 'POST', headers: { 'Content-Type': 'application/geo+json' }, body, signal }
  if (format === 'json') return requestJson(`/api/report?${q}`, opts)
  const resp = await request(`/api/report?${q}`, opts)
  return resp.blob()
}

/* XYZ tile URL template of a layer (Leaflet {z}/{x}/{y} placeholders). The
 * version makes a republished layer bypass the browser cache. */
export function tileUrl(layer, style) {
  const q = new URLSearchParams({ v: String(layer.version ?? 0) })
  if (style) q.set('style', style)
  return `/tiles/${encodeURIComponent(layer.name)}/{z}/{x}/{y}.png?${q}`
}

export function legendUrl(layer, style) {
  const q = new URLSearchParams({
    SERVICE: 'WMS',
    VERSION: '1.3.0',
    REQUEST: 'GetLegendGraphic',
    FORMAT: 'image/png',
    LAYER: layer.name,
  })
  if (style) q.set('STYLE', style)
  return `/wms?${q}`
}

/* WMS 1.3.0 GetFeatureInfo in EPSG:3857 (x/y axis order).
 * layers: [{name, style}], bbox: [minx, miny, maxx, maxy] in metres,
 * size: [width, height] in pixels, point: [i, j] pixel of the click. */
export function featureInfoUrl(layers, bbox, size, point) {
  const names = layers.map((l) => l.name).join(',')
  const q = new URLSearchParams({
    SERVICE: 'WMS',
    VERSION: '1.3.0',
    REQUEST: 'GetFeatureInfo',
    LAYERS: names,
    STYLES: layers.map((l) => l.style || '').join(','),
    QUERY_LAYERS: names,
    CRS: 'EPSG:3857',
    BBOX: bbox.map((v) => v.toFixed(3)).join(','),
    WIDTH: String(Math.round(size[0])),
    HEIGHT: String(Math.round(size[1])),
    I: String(Math.round(point[0])),
    J: String(Math.round(point[1])),
    INFO_FORMAT: 'application/json',
    FORMAT: 'image/png',
  })
  return `/wms?${q}`
}

export function getFeatureInfo(layers, bbox, size, point) {
  return requestJson(featureInfoUrl(layers, bbox, size, point))
}
