/*
 * format.js - display helpers shared by the report views: number formats,
 * the labels of layer groups, indicators and species flags, and the browser
 * download of a Blob.
 *
 * Pure functions (no Vue, no DOM except download()), so they are testable
 * with `node --test` (tests/web/unit.test.mjs).
 */

const nf0 = new Intl.NumberFormat('en', { maximumFractionDigits: 0 })
const nf1 = new Intl.NumberFormat('en', { maximumFractionDigits: 1 })
const nf2 = new Intl.NumberFormat('en', { maximumFractionDigits: 2 })

/* Integer with thousands separators; '–' for null/undefined/NaN. */
export function fmtInt(v) {
  return v == null || !Number.isFinite(Number(v)) ? '–' : nf0.format(Number(v))
}

/* A number with up to `digits` decimals (0, 1 or 2); '–' when unknown. */
export function fmtNum(v, digits = 2) {
  if (v == null || !Number.isFinite(Number(v))) return '–'
  return (digits === 0 ? nf0 : digits === 1 ? nf1 : nf2).format(Number(v))
}

/* A percentage: "12.5 %", "<0.01 %" for tiny non-zero shares. */
export function fmtPct(v) {
  if (v == null || !Number.isFinite(Number(v))) return '–'
  const x = Number(v)
  if (x > 0 && x < 0.01) return '<0.01 %'
  return `${x >= 10 ? nf1.format(x) : nf2.format(x)} %`
}

/* Area in km² with a precision that suits its size. */
export function fmtKm2(v) {
  if (v == null || !Number.isFinite(Number(v))) return '–'
  const x = Number(v)
  return `${x >= 100 ? nf0.format(x) : x >= 1 ? nf1.format(x) : nf2.format(x)} km²`
}

/* Layer groups as shown in the layer switcher, in display order. The
 * server's groups habitats_l1..l3 are shown under one "Habitats" heading. */
export const GROUPS = [
  { id: 'species', label: 'Species' },
  { id: 'indicators', label: 'Indicators' },
  { id: 'habitats', label: 'Habitats' },
  { id: 'inputs', label: 'Inputs' },
  { id: 'truth', label: 'Ground truth' },
  { id: 'other', label: 'Other' },
]

export function groupOf(serverGroup) {
  if (!serverGroup) return 'other'
  if (serverGroup.startsWith('habitats')) return 'habitats'
  return GROUPS.some((g) => g.id === serverGroup) ? serverGroup : 'other'
}

/* Indicator names of the report schema, with labels and explanations. */
export const INDICATORS = {
  richness: { label: 'Species richness', help: 'species predicted present per 50 m cell' },
  directive: { label: 'Habitats Directive species', help: 'EU Habitats Directive (annex) species per cell' },
  threatened: { label: 'Threatened species', help: 'Red List CR, EN or VU species per cell' },
  most_threatened: {
    label: 'Most threatened category',
    help: 'ordinal of the worst Red List category present in the cell (higher is more threatened)',
  },
  tree: { label: 'Tree species', help: 'tree species per cell' },
  invasive: { label: 'Invasive species', help: 'invasive alien species per cell' },
  specialist: { label: 'Specialist species', help: 'habitat-specialist species per cell' },
  endemic: { label: 'Endemic species', help: 'endemic species per cell' },
}

export function indicatorLabel(name) {
  return INDICATORS[name]?.label || name.replace(/_/g, ' ')
}

/* Species flags as short badges, in a fixed order. */
export function speciesBadges(s) {
  const out = []
  if (s.directive) out.push({ key: 'directive', text: 'Protected', title: 'EU Habitats Directive species' })
  if (s.redlist) {
    const threatened = ['CR', 'EN', 'VU'].includes(s.redlist)
    out.push({ key: 'redlist', text: s.redlist, title: `Red List category ${s.redlist}`, threatened })
  }
  if (s.invasive) out.push({ key: 'invasive', text: 'Invasive', title: 'Invasive alien species' })
  if (s.endemic) out.push({ key: 'endemic', text: 'Endemic', title: 'Endemic species' })
  if (s.tree) out.push({ key: 'tree', text: 'Tree', title: 'Tree species' })
  if (s.specialist) out.push({ key: 'specialist', text: 'Specialist', title: 'Habitat specialist' })
  return out
}

/* Species filters of the Species view: id -> predicate. */
export const SPECIES_FILTERS = {
  all: { label: 'All species', test: () => true },
  protected: { label: 'Protected (Habitats Directive)', test: (s) => !!s.directive },
  threatened: { label: 'Threatened (CR, EN, VU)', test: (s) => ['CR', 'EN', 'VU'].includes(s.redlist) },
  invasive: { label: 'Invasive', test: (s) => !!s.invasive },
  endemic: { label: 'Endemic', test: (s) => !!s.endemic },
  tree: { label: 'Trees', test: (s) => !!s.tree },
  specialist: { label: 'Specialists', test: (s) => !!s.specialist },
}

/* Case-insensitive match of a query against name, genus, family or id. */
export function speciesMatches(s, query) {
  const q = (query || '').trim().toLowerCase()
  if (!q) return true
  return [s.scientific_name, s.genus, s.family, String(s.id)].some((f) => f && String(f).toLowerCase().includes(q))
}

/* Stable sort of a copy of rows by key; strings compare case-insensitively,
 * null/undefined sort last whatever the direction. */
export function sortRows(rows, key, dir = 'asc') {
  const sign = dir === 'desc' ? -1 : 1
  return rows
    .map((r, i) => [r, i])
    .sort(([a, ia], [b, ib]) => {
      const x = a[key]
      const y = b[key]
      const xn = x == null || x === ''
      const yn = y == null || y === ''
      if (xn || yn) return xn && yn ? ia - ib : xn ? 1 : -1
      let c
      if (typeof x === 'number' && typeof y === 'number') c = x - y
      else if (typeof x === 'boolean' || typeof y === 'boolean') c = Number(x) - Number(y)
      else c = String(x).localeCompare(String(y), 'en', { sensitivity: 'base' })
      return c ? sign * c : ia - ib
    })
    .map(([r]) => r)
}

/* A safe file-name stem from the area's name: "report-my-area". */
export function fileStem(name) {
  const s = String(name || 'area')
    .toLowerCase()
    .replace(/\.[a-z0-9]+$/, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60)
  return `report-${s || 'area'}`
}

/* Saves a Blob as a file (an <a download> click). Browser only. */
export function download(blob, filename) {
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = filename
  a.rel = 'noopener'
  document.body.appendChild(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 10000)
}

/* The layer shown at start (layers: /api/layers entries, non-empty): the
 * first whose name ends in "richness" (the atlas's headline map), else the
 * first. */
export function startLayer(layers) {
  return layers.find((l) => /(^|[-_])richness$/.test(l.name)) || layers[0]
}
