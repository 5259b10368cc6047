/*
 * draw.js - a small area-drawing tool on a Leaflet map: a polygon by
 * clicks, or a rectangle by dragging. Leaflet only (no leaflet-draw).
 *
 * Polygon: each click adds a vertex; clicking the first vertex, a double
 * click, or Enter closes it (3 vertices at least); Backspace removes the
 * last vertex; Escape cancels. Rectangle: press, drag, release (map dragging
 * is off while the tool is active); Escape cancels.
 *
 * The finished shape is given to onDone as [[lat, lng], ...] vertices
 * (not closed); the caller makes the GeoJSON (geo.js). One tool object per
 * map; start() while active restarts it.
 */
import L from 'leaflet'

const STYLE = { color: '#c2185b', weight: 2, dashArray: '6 4', fillOpacity: 0.08, interactive: false }
const CLOSE_PX = 10 // a click this close to the first vertex closes the polygon

export function createDrawTool(map, { onDone, onCancel, onChange } = {}) {
  let mode = null
  let pts = []
  let shape = null // the polyline / polygon / rectangle drawn so far
  let guide = null // the rubber-band line to the cursor
  let marks = null // vertex markers
  let start = null // rectangle: the corner pressed
  let lastClick = 0
  let finishedAt = 0 // time of the last finish or cancel (the click that ended it is not a map click)

  const container = map.getContainer()

  function clearShapes() {
    for (const l of [shape, guide, marks]) if (l) map.removeLayer(l)
    shape = guide = marks = null
  }

  function redraw(cursor) {
    if (!shape) shape = L.polyline([], STYLE).addTo(map)
    if (!marks) marks = L.layerGroup().addTo(map)
    shape.setLatLngs(pts)
    marks.clearLayers()
    pts.forEach((p, i) =>
      L.circleMarker(p, {
        radius: i === 0 ? 6 : 4,
        color: '#c2185b',
        weight: 2,
        fillColor: '#fff',
        fillOpacity: 1,
        interactive: false,
      }).addTo(marks),
    )
    if (cursor && pts.length) {
      const line = [pts[pts.length - 1], cursor]
      if (pts.length >= 2) line.push(pts[0])
      if (!guide) guide = L.polyline(line, { ...STYLE, opacity: 0.6 }).addTo(map)
      else guide.setLatLngs(line)
    } else if (guide) {
      map.removeLayer(guide)
      guide = null
    }
    onChange?.(pts.length)
  }

  function finishPolygon() {
    if (pts.length < 3) return false
    const out = pts.map((p) => [p.lat, p.lng])
    stop()
    onDone?.(out, 'polygon')
    return true
  }

  function onClick(e) {
    if (mode !== 'polygon') return
    const now = Date.now()
    if (pts.length >= 3) {
      const first = map.latLngToContainerPoint(pts[0])
      if (first.distanceTo(e.containerPoint) <= CLOSE_PX) {
        finishPolygon()
        return
      }
    }
    // The two clicks of a double click add one vertex only.
    if (pts.length && now - lastClick < 350) {
      const last = map.latLngToContainerPoint(pts[pts.length - 1])
      if (last.distanceTo(e.containerPoint) <= 4) return
    }
    lastClick = now
    pts.push(e.latlng)
    redraw(e.latlng)
  }

  function onDblClick(e) {
    if (mode !== 'polygon') return
    L.DomEvent.stop(e)
    finishPolygon()
  }

  function onMove(e) {
    if (mode === 'polygon' && pts.length) redraw(e.latlng)
    if (mode === 'rectangle' && start) {
      const b = L.latLngBounds(start, e.latlng)
      if (!shape) shape = L.rectangle(b, STYLE).addTo(map)
      else shape.setBounds(b)
    }
  }

  function onDown(e) {
    if (mode !== 'rectangle') return
    start = e.latlng
  }

  function onUp(e) {
    if (mode !== 'rectangle' || !start) return
    const a = map.latLngToContainerPoint(start)
    const b = e.containerPoint
    const s = start
    start = null
    if (Math.abs(a.x - b.x) < 4 || Math.abs(a.y - b.y) < 4) {
      // A click, not a drag: keep waiting for a drag.
      if (shape) map.removeLayer(shape)
      shape = null
      return
    }
    const bb = L.latLngBounds(s, e.latlng)
    const out = [
      [bb.getSouth(), bb.getWest()],
      [bb.getSouth(), bb.getEast()],
      [bb.getNorth(), bb.getEast()],
      [bb.getNorth(), bb.getWest()],
    ]
    stop()
    onDone?.(out, 'rectangle')
  }

  function onKey(e) {
    if (!mode) return
    if (e.key === 'Escape') {
      e.preventDefault()
      cancel()
    } else if (mode === 'polygon' && e.key === 'Enter') {
      e.preventDefault()
      finishPolygon()
    } else if (mode === 'polygon' && e.key === 'Backspace' && pts.length) {
      // Not while typing in a form field.
      if (/^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement?.tagName || '')) return
      e.preventDefault()
      pts.pop()
      redraw(null)
    }
  }

  function startTool(m) {
    stop()
    mode = m
    pts = []
    map.doubleClickZoom.disable()
    if (m === 'rectangle') map.dragging.disable()
    container.classList.add('gpn-drawing')
    map.on('click', onClick)
    map.on('dblclick', onDblClick)
    map.on('mousemove', onMove)
    map.on('mousedown', onDown)
    map.on('mouseup', onUp)
    document.addEventListener('keydown', onKey)
    onChange?.(0)
  }

  function stop() {
    if (!mode) return
    mode = null
    finishedAt = Date.now()
    start = null
    pts = []
    clearShapes()
    map.doubleClickZoom.enable()
    map.dragging.enable()
    container.classList.remove('gpn-drawing')
    map.off('click', onClick)
    map.off('dblclick', onDblClick)
    map.off('mousemove', onMove)
    map.off('mousedown', onDown)
    map.off('mouseup', onUp)
    document.removeEventListener('keydown', onKey)
  }

  function cancel() {
    const was = mode
    stop()
    if (was) onCancel?.()
  }

  return {
    start: startTool,
    stop,
    cancel,
    finish: finishPolygon,
    get mode() {
      return mode
    },
    get vertices() {
      return pts.length
    },
    get finishedAt() {
      return finishedAt
    },
  }
}
