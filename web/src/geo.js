/*
 * geo.js - the area of a report on the client side: GeoJSON built from a
 * drawn polygon or rectangle, and the checks of an uploaded GeoJSON file
 * before it is sent, plus a small TopoJSON decoder for the offline basemap.
 *
 * Why checks here when the server validates everything: a user who uploads
 * the wrong file (a point layer, a CSV, a 200 MB file) gets an immediate,
 * specific message without a round trip. Geometry validity (closed rings,
 * self-intersections, size limits) stays the server's job: its 400 errors
 * are shown as they come.
 *
 * Coordinates are GeoJSON order [lon, lat] in EPSG:4326.
 */

export const MAX_UPLOAD_BYTES = 8 * 1024 * 1024 // the server's default max body

/* A closed GeoJSON ring from [lat, lng] vertices (Leaflet order). */
export function ringFromLatLngs(latlngs) {
  const ring = latlngs.map((p) => [round7(p[1]), round7(p[0])])
  if (ring.length && (ring[0][0] !== ring[ring.length - 1][0] || ring[0][1] !== ring[ring.length - 1][1]))
    ring.push([ring[0][0], ring[0][1]])
  return ring
}

function round7(v) {
  return Math.round(v * 1e7) / 1e7
}

/* A Feature with a Polygon from [lat, lng] vertices. */
export function polygonFeature(latlngs, properties = {}) {
  return { type: 'Feature', properties, geometry: { type: 'Polygon', coordinates: [ringFromLatLngs(latlngs)] } }
}

/* A Feature with the rectangle west, south, east, north (degrees). */
export function bboxFeature(w, s, e, n, properties = {}) {
  return polygonFeature(
    [
      [s, w],
      [s, e],
      [n, e],
      [n, w],
    ],
    properties,
  )
}

/* The polygonal geometries of a GeoJSON object (Polygon, MultiPolygon,
 * Feature, FeatureCollection, GeometryCollection); others are counted in
 * `skipped`. */
export function polygonalGeometries(obj) {
  const out = []
  let skipped = 0
  const visit = (g) => {
    if (!g || typeof g !== 'object') return
    switch (g.type) {
      case 'Polygon':
      case 'MultiPolygon':
        out.push(g)
        break
      case 'Feature':
        if (g.geometry) visit(g.geometry)
        else skipped++
        break
      case 'FeatureCollection':
        ;(Array.isArray(g.features) ? g.features : []).forEach(visit)
        break
      case 'GeometryCollection':
        ;(Array.isArray(g.geometries) ? g.geometries : []).forEach(visit)
        break
      default:
        skipped++
    }
  }
  visit(obj)
  return { geometries: out, skipped }
}

/* [west, south, east, north] of the polygons' coordinates, or null. */
export function boundsOf(geometries) {
  let w = Infinity
  let s = Infinity
  let e = -Infinity
  let n = -Infinity
  const visit = (c) => {
    if (typeof c[0] === 'number') {
      if (c[0] < w) w = c[0]
      if (c[0] > e) e = c[0]
      if (c[1] < s) s = c[1]
      if (c[1] > n) n = c[1]
    } else c.forEach(visit)
  }
  for (const g of geometries) if (Array.isArray(g.coordinates)) visit(g.coordinates)
  return Number.isFinite(w) ? [w, s, e, n] : null
}

function vertexCount(geometries) {
  let k = 0
  const visit = (c) => {
    if (typeof c[0] === 'number') k++
    else c.forEach(visit)
  }
  for (const g of geometries) if (Array.isArray(g.coordinates)) visit(g.coordinates)
  return k
}

/* Checks an uploaded file's text. Returns {ok:true, geojson, text, bounds,
 * lonlat, vertices, skipped} or {ok:false, message}. `lonlat` is false when
 * the file declares another CRS (legacy "crs" member) or its coordinates are
 * not degrees: the server reprojects it, but the app cannot draw it. */
export function checkUpload(text, size = text.length) {
  if (size > MAX_UPLOAD_BYTES)
    return { ok: false, message: `the file has ${(size / 1048576).toFixed(1)} MB; the limit is 8 MB` }
  let obj
  try {
    obj = JSON.parse(text)
  } catch (err) {
    return { ok: false, message: `the file is not JSON (${err.message})` }
  }
  if (!obj || typeof obj !== 'object' || typeof obj.type !== 'string')
    return { ok: false, message: 'the file is not GeoJSON (no "type" member)' }
  if (obj.type === 'Topology') return { ok: false, message: 'TopoJSON is not supported here; convert it to GeoJSON' }
  const { geometries, skipped } = polygonalGeometries(obj)
  if (!geometries.length)
    return {
      ok: false,
      message: `the file has no Polygon or MultiPolygon (type ${obj.type}); an area must be a polygon`,
    }
  const bounds = boundsOf(geometries)
  if (!bounds) return { ok: false, message: 'the polygons of the file have no coordinates' }
  const crs = obj.crs?.properties?.name
  const declaresOther = crs && !/(4326|CRS84)$/i.test(String(crs))
  const lonlat =
    !declaresOther && bounds[0] >= -180 && bounds[2] <= 180 && bounds[1] >= -90 && bounds[3] <= 90
  return { ok: true, geojson: obj, text, bounds, lonlat, vertices: vertexCount(geometries), skipped }
}

/* ---- TopoJSON (the offline basemap) ---------------------------------- */

/* Decodes the arcs of a quantised or plain Topology into [lon, lat] lists. */
function decodeArcs(topo) {
  const t = topo.transform
  return topo.arcs.map((arc) => {
    let x = 0
    let y = 0
    return arc.map((p) => {
      if (t) {
        x += p[0]
        y += p[1]
        return [x * t.scale[0] + t.translate[0], y * t.scale[1] + t.translate[1]]
      }
      return [p[0], p[1]]
    })
  })
}

/* GeoJSON Features of the polygons of topo.objects[name] (the minimal
 * subset of topojson-client's feature() that Natural Earth files need:
 * Polygon and MultiPolygon; other types are skipped). */
export function topoFeatures(topo, name) {
  const obj = topo?.objects?.[name]
  if (!obj) return []
  const arcs = decodeArcs(topo)
  const ring = (ids) => {
    const pts = []
    for (const id of ids) {
      const a = id < 0 ? arcs[~id].slice().reverse() : arcs[id]
      // Consecutive arcs share their end points: skip the duplicate.
      pts.push(...(pts.length ? a.slice(1) : a))
    }
    return pts
  }
  const geoms = obj.type === 'GeometryCollection' ? obj.geometries : [obj]
  const out = []
  for (const g of geoms) {
    let geometry = null
    if (g.type === 'Polygon') geometry = { type: 'Polygon', coordinates: g.arcs.map(ring) }
    else if (g.type === 'MultiPolygon') geometry = { type: 'MultiPolygon', coordinates: g.arcs.map((p) => p.map(ring)) }
    if (geometry) out.push({ type: 'Feature', id: g.id, properties: g.properties || {}, geometry })
  }
  return out
}
