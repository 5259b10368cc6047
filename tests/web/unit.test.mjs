// tests/web/unit.test.mjs - unit tests of the web app's pure helpers
// (web/src/format.js, geo.js, api.js error parsing, router.js paths), run
// with `node --test tests/web/unit.test.mjs` by tests/scripts/test_web.sh.
import test from 'node:test'
import assert from 'node:assert/strict'

import {
  fmtInt,
  fmtPct,
  fmtKm2,
  groupOf,
  sortRows,
  speciesBadges,
  speciesMatches,
  SPECIES_FILTERS,
  fileStem,
  startLayer,
} from '../../web/src/format.js'
import { bboxFeature, checkUpload, polygonFeature, topoFeatures, boundsOf } from '../../web/src/geo.js'
import { parseErrorBody, featureInfoUrl, tileUrl } from '../../web/src/api.js'
import { tabOfPath } from '../../web/src/router.js'

test('number formats', () => {
  assert.equal(fmtInt(1234567), '1,234,567')
  assert.equal(fmtInt(null), '–')
  assert.equal(fmtPct(12.3456), '12.3 %')
  assert.equal(fmtPct(1.23456), '1.23 %')
  assert.equal(fmtPct(0.004), '<0.01 %')
  assert.equal(fmtPct(0), '0 %')
  assert.equal(fmtKm2(300), '300 km²')
  assert.equal(fmtKm2(2.345), '2.3 km²')
})

test('layer groups: habitat levels fold into one group, unknown into other', () => {
  assert.equal(groupOf('habitats_l2'), 'habitats')
  assert.equal(groupOf('species'), 'species')
  assert.equal(groupOf('whatever'), 'other')
  assert.equal(groupOf(''), 'other')
})

test('sortRows: numbers, strings case-insensitively, nulls last, stable', () => {
  const rows = [
    { n: 'b', v: 2 },
    { n: 'A', v: null },
    { n: 'c', v: 10 },
    { n: 'a2', v: 2 },
  ]
  assert.deepEqual(
    sortRows(rows, 'v', 'desc').map((r) => r.n),
    ['c', 'b', 'a2', 'A'],
  )
  assert.deepEqual(
    sortRows(rows, 'v', 'asc').map((r) => r.n),
    ['b', 'a2', 'c', 'A'],
  )
  assert.deepEqual(
    sortRows(rows, 'n', 'asc').map((r) => r.n),
    ['A', 'a2', 'b', 'c'],
  )
  assert.equal(rows[0].n, 'b', 'input not modified')
})

test('species flags, filters and search', () => {
  const s = { id: 4, scientific_name: 'Abies nebrodensis', genus: 'Abies', family: 'Pinaceae', directive: true, redlist: 'CR', endemic: true, tree: true }
  const b = speciesBadges(s)
  assert.deepEqual(
    b.map((x) => x.key),
    ['directive', 'redlist', 'endemic', 'tree'],
  )
  assert.equal(b[1].threatened, true)
  assert.equal(speciesBadges({ redlist: 'LC' })[0].threatened, false)
  assert.ok(SPECIES_FILTERS.threatened.test(s))
  assert.ok(!SPECIES_FILTERS.threatened.test({ redlist: 'NT' }))
  assert.ok(!SPECIES_FILTERS.invasive.test(s))
  assert.ok(speciesMatches(s, 'pinac'))
  assert.ok(speciesMatches(s, ' NEBRO '))
  assert.ok(speciesMatches(s, '4'))
  assert.ok(!speciesMatches(s, 'acer'))
})

test('file names of exports', () => {
  assert.equal(fileStem('My Park (north).geojson'), 'report-my-park-north')
  assert.equal(fileStem(''), 'report-area')
})

test('polygon and bbox features are closed rings in lon/lat order', () => {
  const f = polygonFeature([
    [43, 1],
    [43, 2],
    [44, 2],
  ])
  const r = f.geometry.coordinates[0]
  assert.equal(r.length, 4)
  assert.deepEqual(r[0], [1, 43])
  assert.deepEqual(r[3], r[0])
  const b = bboxFeature(1, 43, 2, 44)
  assert.deepEqual(boundsOf([b.geometry]), [1, 43, 2, 44])
})

test('checkUpload accepts polygons, refuses the rest with a reason', () => {
  const poly = JSON.stringify({ type: 'Feature', geometry: { type: 'Polygon', coordinates: [[[1, 43], [2, 43], [2, 44], [1, 43]]] } })
  const c = checkUpload(poly)
  assert.equal(c.ok, true)
  assert.equal(c.lonlat, true)
  assert.equal(c.vertices, 4)
  assert.match(checkUpload('{"type":"Point","coordinates":[1,2]}').message, /no Polygon/)
  assert.match(checkUpload('not json').message, /not JSON/)
  assert.match(checkUpload('[1,2]').message, /not GeoJSON/)
  assert.match(checkUpload('{"type":"Topology"}').message, /TopoJSON/)
  assert.match(checkUpload(poly, 9 * 1024 * 1024).message, /limit is 8 MB/)
  const other = JSON.parse(poly)
  other.crs = { type: 'name', properties: { name: 'urn:ogc:def:crs:EPSG::3035' } }
  assert.equal(checkUpload(JSON.stringify(other)).lonlat, false)
  const metres = { type: 'Polygon', coordinates: [[[3600000, 2200000], [3601000, 2200000], [3601000, 2201000], [3600000, 2200000]]] }
  assert.equal(checkUpload(JSON.stringify(metres)).lonlat, false)
})

test('topoFeatures decodes quantised arcs, reversed arcs and multipolygons', () => {
  const topo = {
    type: 'Topology',
    transform: { scale: [0.5, 0.5], translate: [10, 20] },
    arcs: [
      [
        [0, 0],
        [2, 0],
        [0, 2],
      ],
      [
        [2, 2],
        [-2, 0],
        [0, -2],
      ],
    ],
    objects: {
      c: {
        type: 'GeometryCollection',
        geometries: [
          { type: 'Polygon', arcs: [[0, 1]], id: 'A', properties: { name: 'a' } },
          { type: 'MultiPolygon', arcs: [[[~1, ~0]]] },
          { type: 'Point', coordinates: [0, 0] },
        ],
      },
    },
  }
  const f = topoFeatures(topo, 'c')
  assert.equal(f.length, 2)
  assert.deepEqual(f[0].geometry.coordinates[0], [
    [10, 20],
    [11, 20],
    [11, 21],
    [10, 21],
    [10, 20],
  ])
  assert.equal(f[0].properties.name, 'a')
  assert.equal(f[1].geometry.type, 'MultiPolygon')
  assert.deepEqual(f[1].geometry.coordinates[0][0][0], [10, 20])
  assert.equal(f[1].geometry.coordinates[0][0].length, 5)
  assert.deepEqual(topoFeatures(topo, 'missing'), [])
})

test('error bodies: JSON, WMS exception, text', () => {
  assert.deepEqual(parseErrorBody(400, 'application/json', '{"error":{"code":"FORMAT","message":"ring 1 is not closed"}}'), {
    code: 'FORMAT',
    message: 'ring 1 is not closed',
  })
  assert.deepEqual(
    parseErrorBody(
      400,
      'text/xml',
      '<?xml version="1.0"?><ServiceExceptionReport><ServiceException code="LayerNotDefined">no layer x</ServiceException></ServiceExceptionReport>',
    ),
    { code: 'LayerNotDefined', message: 'no layer x' },
  )
  assert.deepEqual(parseErrorBody(404, 'text/plain', 'not found\n'), { code: 'HTTP', message: 'not found' })
  assert.deepEqual(parseErrorBody(502, '', ''), { code: 'HTTP', message: 'HTTP 502' })
})

test('URLs: GetFeatureInfo parameters, tile template', () => {
  const u = new URL(featureInfoUrl([{ name: 'a', style: 's' }, { name: 'b' }], [0, 1, 2.5, 3], [800, 600], [10.4, 20.6]), 'http://x')
  const p = u.searchParams
  assert.equal(u.pathname, '/wms')
  assert.equal(p.get('REQUEST'), 'GetFeatureInfo')
  assert.equal(p.get('QUERY_LAYERS'), 'a,b')
  assert.equal(p.get('STYLES'), 's,')
  assert.equal(p.get('CRS'), 'EPSG:3857')
  assert.equal(p.get('BBOX'), '0.000,1.000,2.500,3.000')
  assert.equal(p.get('I'), '10')
  assert.equal(p.get('J'), '21')
  assert.equal(p.get('INFO_FORMAT'), 'application/json')
  assert.equal(tileUrl({ name: 'sp 1', version: 3 }, 'viridis'), '/tiles/sp%201/{z}/{x}/{y}.png?v=3&style=viridis')
})

test('routes', () => {
  assert.equal(tabOfPath('/'), 'home')
  assert.equal(tabOfPath('/species'), 'species')
  assert.equal(tabOfPath('/Habitats/'), 'habitats')
  assert.equal(tabOfPath('/indicators'), 'indicators')
  assert.equal(tabOfPath('/nope'), 'home')
})

test('startLayer prefers a richness layer, else the first', () => {
  const a = [{ name: 'indicator-directive' }, { name: 'indicator-richness' }, { name: 'richnessx' }]
  assert.equal(startLayer(a).name, 'indicator-richness')
  assert.equal(startLayer([{ name: 'sp_1' }, { name: 'richnessx' }]).name, 'sp_1')
  assert.equal(startLayer([{ name: 'b' }, { name: 'richness' }]).name, 'richness')
})
