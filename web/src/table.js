/*
 * table.js - the sort and text-filter logic of the report tables
 * (SpeciesTab, HabitatsTab; the header row is SortHeader.vue).
 *
 * useSortable() holds one sorted column and its direction as refs. A click
 * on the sorted column flips the direction; a click on another column sorts
 * by it, descending for the columns in descKeys (numbers read best largest
 * first) and ascending otherwise (names A to Z, rank 1 first). The rows
 * themselves are sorted by format.js sortRows (stable, nulls last).
 */
import { computed, ref } from 'vue'
import { sortRows } from './format.js'

/*
 * columns: [{ key, label, cls? }] of the table; key, dir: the initial sort
 * column and direction ('asc' | 'desc'); descKeys: columns that sort
 * descending on their first click. Returns the refs sortKey and sortDir,
 * sortBy(key) (the click), ariaSort(key) (the th's aria-sort value),
 * arrow(key) (' ▲', ' ▼' or ''), sortLabel (computed "Label (ascending)")
 * and sorted(rows) (a sorted copy of rows).
 */
export function useSortable(columns, { key, dir = 'asc', descKeys = [] }) {
  const sortKey = ref(key)
  const sortDir = ref(dir)
  function sortBy(k) {
    if (sortKey.value === k) sortDir.value = sortDir.value === 'asc' ? 'desc' : 'asc'
    else {
      sortKey.value = k
      sortDir.value = descKeys.includes(k) ? 'desc' : 'asc'
    }
  }
  const ariaSort = (k) => (sortKey.value === k ? (sortDir.value === 'asc' ? 'ascending' : 'descending') : 'none')
  const arrow = (k) => (sortKey.value === k ? (sortDir.value === 'asc' ? ' ▲' : ' ▼') : '')
  const sortLabel = computed(() => `${columns.find((c) => c.key === sortKey.value)?.label} (${sortDir.value}ending)`)
  const sorted = (rows) => sortRows(rows, sortKey.value, sortDir.value)
  return { sortKey, sortDir, sortBy, ariaSort, arrow, sortLabel, sorted }
}

/* Case-insensitive substring match of a trimmed query against any of the
 * values (null/undefined values never match); an empty query matches. */
export function matchesQuery(values, query) {
  const q = (query || '').trim().toLowerCase()
  if (!q) return true
  return values.some((v) => v != null && String(v).toLowerCase().includes(q))
}
