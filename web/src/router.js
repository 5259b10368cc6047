/*
 * router.js - the four report modules as routes: / (Home), /species,
 * /habitats, /indicators, with the browser history (back/forward and
 * reload work: the server answers unknown extension-less paths with
 * index.html).
 *
 * Why not vue-router: four fixed routes and no parameters; this is 40
 * lines instead of a dependency.
 */
import { ref } from 'vue'

export const TABS = [
  { id: 'home', path: '/', label: 'Home' },
  { id: 'species', path: '/species', label: 'Species' },
  { id: 'habitats', path: '/habitats', label: 'Habitats' },
  { id: 'indicators', path: '/indicators', label: 'Indicators' },
]

/* The tab of a URL path ('/species/' and '/Species' included); unknown
 * paths are Home. */
export function tabOfPath(path) {
  const p = (path || '/').replace(/\/+$/, '').toLowerCase() || '/'
  return (TABS.find((t) => t.path === p) || TABS[0]).id
}

export const currentTab = ref(typeof location === 'undefined' ? 'home' : tabOfPath(location.pathname))

export function go(tabId) {
  const t = TABS.find((x) => x.id === tabId) || TABS[0]
  currentTab.value = t.id
  if (location.pathname !== t.path) history.pushState({ tab: t.id }, '', t.path + location.search)
}

if (typeof window !== 'undefined')
  window.addEventListener('popstate', () => {
    currentTab.value = tabOfPath(location.pathname)
  })
