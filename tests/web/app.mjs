// tests/web/app.mjs - drives the built web app in Debian's Chromium with
// playwright-core against a running `gpn serve` (started by
// tests/scripts/test_web.sh with a small atlas made there).
//
// Checks: the page loads without script errors; the layer switcher lists the
// atlas layers by group; the map fetches XYZ tiles (200, image/png) and the
// WMS legend; a click gives a GetFeatureInfo popup; drawing a rectangle and a
// polygon and uploading a GeoJSON file give reports with the expected species
// counts; the Species, Habitats and Indicators modules show the report's rows
// (search, filter, sort, levels); routes survive a reload; JSON and CSV
// exports download the report; bad files and areas the server refuses show
// their error. A screenshot of each module is written to OUT.
//
// Input (environment): GPN_WEB_BASE (http://127.0.0.1:PORT), GPN_WEB_OUT
// (folder for screenshots and downloads), GPN_WEB_CASE (JSON file written by
// the shell script: expected values, polygons, file paths).
// Output: one "ok   NAME" / "FAIL NAME: why" line per check; exit 1 on any
// failure.
import { createRequire } from 'node:module'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(path.join(here, '../../web/package.json'))
const { chromium } = require('playwright-core')

const BASE = process.env.GPN_WEB_BASE
const OUT = process.env.GPN_WEB_OUT || '/tmp'
const CASE = JSON.parse(fs.readFileSync(process.env.GPN_WEB_CASE, 'utf8'))
const CHROMIUM = process.env.GPN_CHROMIUM || '/usr/bin/chromium'

let passes = 0
let fails = 0
function ok(name) {
  passes++
  console.log(`ok   ${name}`)
}
function fail(name, why) {
  fails++
  console.log(`FAIL ${name}: ${why}`)
}
async function check(name, fn) {
  try {
    const r = await fn()
    if (r === false) fail(name, 'condition false')
    else ok(name)
  } catch (err) {
    fail(name, String(err && err.message ? err.message : err).replace(/\s+/g, ' ').slice(0, 400))
  }
}
function assert(cond, msg) {
  if (!cond) throw new Error(msg)
}

const userDataDir = fs.mkdtempSync(path.join(OUT, 'chromium-profile-'))
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: CHROMIUM,
  headless: true,
  acceptDownloads: true,
  viewport: { width: 1400, height: 900 },
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ],
})
const page = context.pages()[0] || (await context.newPage())
page.setDefaultTimeout(15000)

const pageErrors = []
const responses = []
const external = []
page.on('pageerror', (e) => pageErrors.push(String(e)))
page.on('console', (m) => {
  if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`)
})
page.on('request', (r) => {
  const u = r.url()
  if (!u.startsWith(BASE) && !u.startsWith('data:') && !u.startsWith('blob:')) external.push(u)
})
page.on('response', (r) => responses.push({ url: r.url(), status: r.status(), type: r.headers()['content-type'] || '' }))

const speciesCount = () => page.locator('[data-count="species"]').innerText()

// Number of reports the page has received (ReportPanel's data-reports).
const reportCount = () => page.evaluate(() => Number(document.querySelector('.report').dataset.reports || 0))

// Runs action, then waits for a NEW report and checks its species count.
async function expectReport(action, expected, name) {
  const before = await reportCount()
  await action()
  await page.waitForFunction((n) => Number(document.querySelector('.report').dataset.reports) > n, before, {
    timeout: 30000,
  })
  await page.waitForFunction(() => !document.querySelector('.report .loading'))
  const txt = (await speciesCount()).trim()
  assert(txt === String(expected), `${name}: species count "${txt}", expected ${expected}`)
}

async function download(selector) {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click(selector)])
  const file = path.join(OUT, dl.suggestedFilename())
  await dl.saveAs(file)
  return { file, name: dl.suggestedFilename(), text: fs.readFileSync(file, 'utf8') }
}

// Pixel position of a lon/lat on the page (the map's own projection).
async function pagePoint(lon, lat) {
  const p = await page.evaluate(([lo, la]) => {
    const m = window.__gpnMap
    const pt = m.latLngToContainerPoint([la, lo])
    const r = m.getContainer().getBoundingClientRect()
    return { x: r.left + pt.x, y: r.top + pt.y }
  }, [lon, lat])
  return p
}

const apiLayers = (await (await fetch(BASE + '/api/layers')).json()).layers.map((l) => l.name)
const byName = Object.fromEntries(CASE.layers.map((l) => [l.name, l]))
const LAYERS = apiLayers.map((n) => byName[n]).filter(Boolean)
let reportJson = null

try {
  // ---- page and layers ----------------------------------------------------
  await check('page loads', async () => {
    const resp = await page.goto(BASE + '/', { waitUntil: 'load' })
    assert(resp && resp.status() === 200, `status ${resp && resp.status()}`)
    assert((await page.title()) === 'GeoPl@ntNet', `title ${await page.title()}`)
  })
  await check('server status shown', async () => {
    await page.locator('[data-testid="server-status"]', { hasText: 'layer' }).waitFor()
  })
  await check('layer list shows the layers by group', async () => {
    assert(LAYERS.length === CASE.layers.length, `server layers ${apiLayers}`)
    for (const l of LAYERS) {
      const item = page.locator(`.layer[data-layer="${l.name}"]`)
      await item.waitFor()
      const t = await item.innerText()
      assert(t.includes(l.title), `${l.name}: "${t}" lacks "${l.title}"`)
      const group = await item.evaluate((e) => e.closest('details').querySelector('summary span').textContent)
      assert(group === l.groupLabel, `${l.name} is under "${group}", expected "${l.groupLabel}"`)
    }
  })
  await check('first layer shown, its tiles load (200 image/png)', async () => {
    const first = (LAYERS.find((l) => /(^|[-_])richness$/.test(l.name)) || LAYERS[0]).name
    assert(await page.locator(`input[name="layer-${first}"]`).isChecked(), 'first layer not checked')
    await page.waitForFunction(() => document.querySelectorAll('.leaflet-tile-loaded').length > 0, null, {
      timeout: 20000,
    })
    const tiles = responses.filter((r) => r.url.includes(`/tiles/${first}/`))
    assert(tiles.length > 0, 'no tile request')
    assert(tiles.every((r) => r.status === 200 || r.status === 304), `tile statuses ${tiles.map((r) => r.status)}`)
    assert(tiles.some((r) => r.type.startsWith('image/png')), 'no image/png tile')
  })
  await check('legend from WMS GetLegendGraphic', async () => {
    const img = page.locator(`.layer[data-layer="${LAYERS[0].name}"] img.legend`)
    await img.waitFor()
    await page.waitForFunction((sel) => {
      const i = document.querySelector(sel)
      return i && i.complete && i.naturalWidth > 0
    }, `.layer[data-layer="${LAYERS[0].name}"] img.legend`)
    const r = responses.find((x) => x.url.includes('REQUEST=GetLegendGraphic'))
    assert(r && r.status === 200 && r.type.startsWith('image/png'), `legend response ${r && r.status} ${r && r.type}`)
  })
  await check('second layer toggles on and loads its tiles', async () => {
    const second = LAYERS[1].name
    await page.check(`input[name="layer-${second}"]`)
    await page.waitForFunction((n) => document.querySelectorAll(`.gpn-tiles-${n} .leaflet-tile-loaded`).length > 0, second, {
      timeout: 20000,
    })
    const tiles = responses.filter((r) => r.url.includes(`/tiles/${second}/`))
    assert(tiles.length && tiles.every((r) => r.status === 200 || r.status === 304), 'tile status')
  })
  await check('click gives a GetFeatureInfo popup', async () => {
    const c = CASE.inside
    const p = await pagePoint(c[0], c[1])
    await page.mouse.click(p.x, p.y)
    const popup = page.locator('.leaflet-popup .gfi')
    try {
      await popup.locator('table').waitFor()
      await page.waitForFunction(() => !/Loading/.test(document.querySelector('.leaflet-popup .gfi').textContent))
    } catch (err) {
      throw new Error(`no popup content: ${(await popup.innerText().catch(() => '')).replace(/\s+/g, ' ')}`)
    }
    const t = (await popup.innerText()).replace(/\s+/g, ' ')
    for (const l of LAYERS) assert(t.includes(l.title), `popup lacks ${l.title}: ${t}`)
    assert(/present|\d/.test(t), `popup has no value: ${t}`)
    const r = responses.find((x) => x.url.includes('REQUEST=GetFeatureInfo'))
    assert(r && r.status === 200, `GetFeatureInfo status ${r && r.status}`)
  })
  await page.evaluate(() => {
    window.__gpnMap.closePopup()
  })

  // ---- areas and reports --------------------------------------------------
  await check('"use map view" reports the view (all the data at start)', async () => {
    await expectReport(() => page.click('[data-action="map-view"]'), CASE.rectSpecies, 'map view')
    const line = await page.locator('.area-line').innerText()
    assert(line.includes('map view'), `area line ${line}`)
  })
  await check('rectangle drawn over the data gives the report', async () => {
    await page.click('[data-action="draw-rectangle"]')
    await page.locator('.draw-help').waitFor()
    const a = await pagePoint(CASE.rect[0], CASE.rect[3])
    const b = await pagePoint(CASE.rect[2], CASE.rect[1])
    await expectReport(
      async () => {
        await page.mouse.move(a.x, a.y)
        await page.mouse.down()
        await page.mouse.move((a.x + b.x) / 2, (a.y + b.y) / 2, { steps: 4 })
        await page.mouse.move(b.x, b.y, { steps: 4 })
        await page.mouse.up()
      },
      CASE.rectSpecies,
      'rectangle',
    )
    const line = await page.locator('.area-line').innerText()
    assert(line.includes('drawn-rectangle'), `area line ${line}`)
    assert((await page.locator('.leaflet-popup').count()) === 0, 'the click ending the drag opened a popup')
  })
  await check('home shows the flag counts', async () => {
    for (const [k, v] of Object.entries(CASE.rectCounts)) {
      const t = (await page.locator(`[data-count="${k}"]`).innerText()).trim()
      assert(t === String(v), `${k}: ${t}, expected ${v}`)
    }
    const main = await page.locator('.home').innerText()
    assert(main.includes(CASE.topHabitat), `home lacks the main habitat ${CASE.topHabitat}`)
  })
  await page.screenshot({ path: path.join(OUT, 'web-home.png') })

  await check('species module lists the species', async () => {
    await page.click('#tab-species')
    await page.waitForURL(/\/species$/)
    const rows = page.locator('tr[data-species-id]')
    await rows.first().waitFor()
    assert((await rows.count()) === CASE.rectSpecies, `rows ${await rows.count()}`)
    const t = await page.locator('.species-table').innerText()
    for (const n of CASE.speciesNames) assert(t.includes(n), `species table lacks ${n}`)
    const first = await rows.first().getAttribute('data-species-id')
    assert(first === String(CASE.topSpeciesId), `first row is species ${first}, expected ${CASE.topSpeciesId}`)
  })
  await check('species search, filter and sort', async () => {
    await page.fill('input[name="species-search"]', CASE.search.query)
    await page.waitForFunction(
      (n) => document.querySelectorAll('tr[data-species-id]').length === n,
      CASE.search.rows,
    )
    await page.fill('input[name="species-search"]', '')
    await page.selectOption('select[name="species-filter"]', 'invasive')
    await page.waitForFunction((n) => document.querySelectorAll('tr[data-species-id]').length === n, CASE.invasiveRows)
    await page.selectOption('select[name="species-filter"]', 'all')
    // Sort by name, A to Z: the rows come in alphabetical order.
    await page.click('.species-table th:nth-child(2) button.sort')
    const names = await page.locator('tr[data-species-id] .sci').allInnerTexts()
    const sorted = [...names].sort((x, y) => x.localeCompare(y))
    assert(JSON.stringify(names) === JSON.stringify(sorted), `not sorted: ${names}`)
    const aria = await page.locator('.species-table th:nth-child(2)').getAttribute('aria-sort')
    assert(aria === 'ascending', `aria-sort ${aria}`)
  })
  await page.screenshot({ path: path.join(OUT, 'web-species.png') })

  await check('habitats module: levels and filter', async () => {
    await page.click('#tab-habitats')
    await page.waitForURL(/\/habitats$/)
    const rows = page.locator('tr[data-habitat]')
    await rows.first().waitFor()
    const l3 = await rows.evaluateAll((r) => r.map((e) => e.dataset.habitat))
    assert(JSON.stringify(l3) === JSON.stringify(CASE.habitatsL3), `level 3 ${l3}`)
    await page.check('input[name="eunis-level"][value="1"]')
    await page.waitForFunction((n) => document.querySelectorAll('tr[data-habitat]').length === n, CASE.habitatsL1)
    await page.check('input[name="eunis-level"][value="3"]')
    await page.fill('input[name="habitat-filter"]', CASE.habitatsL3[0])
    await page.waitForFunction(() => document.querySelectorAll('tr[data-habitat]').length === 1)
  })
  await page.screenshot({ path: path.join(OUT, 'web-habitats.png') })

  await check('export JSON downloads the report', async () => {
    const d = await download('[data-export="json"]')
    const j = JSON.parse(d.text)
    reportJson = j
    assert(d.name.endsWith('.json'), `file ${d.name}`)
    assert(j.schema_version && j.counts.species === CASE.rectSpecies, `counts ${JSON.stringify(j.counts)}`)
    assert(j.species.length === CASE.rectSpecies, 'species list length')
  })
  await check('indicators module: statistics and histograms', async () => {
    await page.click('#tab-indicators')
    await page.waitForURL(/\/indicators$/)
    const card = page.locator('[data-indicator="richness"]')
    await card.waitFor()
    const ind = reportJson.indicators.richness
    const want = new Intl.NumberFormat('en', { maximumFractionDigits: 2 }).format(ind.mean)
    const mean = (await card.locator('[data-stat="mean"]').innerText()).trim()
    assert(mean === want, `richness mean ${mean}, the report says ${ind.mean}`)
    assert(ind.min >= CASE.richnessRange[0] && ind.max <= CASE.richnessRange[1], `richness ${ind.min}..${ind.max}`)
    const bars = await card.locator('.hist-bar').count()
    assert(bars === ind.histogram.counts.length, `histogram bars ${bars}, expected ${ind.histogram.counts.length}`)
    assert((await page.locator('.ind-card').count()) === 8, 'not 8 indicator cards')
  })
  await page.screenshot({ path: path.join(OUT, 'web-indicators.png') })

  await check('export species CSV downloads the list', async () => {
    const d = await download('[data-export="csv-species"]')
    const lines = d.text.trim().split('\n')
    assert(lines[0].startsWith('rank,id,scientific_name'), `header ${lines[0]}`)
    assert(lines.length === CASE.rectSpecies + 1, `${lines.length} lines`)
  })
  await check('export habitats CSV', async () => {
    const d = await download('[data-export="csv-habitats"]')
    const lines = d.text.trim().split('\n')
    assert(lines[0] === 'level,code,name,cells,pct', `header ${lines[0]}`)
    assert(lines.length === 1 + CASE.habitatsTotal, `${lines.length} lines`)
  })

  await check('route survives a reload (/habitats), tabs follow arrow keys and history', async () => {
    await page.goto(BASE + '/habitats', { waitUntil: 'load' })
    const sel = await page.locator('#tab-habitats').getAttribute('aria-selected')
    assert(sel === 'true', `aria-selected ${sel}`)
    await page.locator('.layer').first().waitFor()
    await page.focus('#tab-habitats')
    await page.keyboard.press('ArrowRight')
    await page.waitForURL(/\/indicators$/)
    assert(await page.evaluate(() => document.activeElement.id === 'tab-indicators'), 'focus did not follow')
    await page.goBack()
    await page.waitForURL(/\/habitats$/)
    await page.waitForFunction(() => document.querySelector('#tab-habitats').getAttribute('aria-selected') === 'true')
  })

  await check('polygon drawn by clicks gives the report', async () => {
    await page.click('#tab-home')
    await page.click('[data-action="draw-polygon"]')
    for (const [lon, lat] of CASE.poly) {
      const p = await pagePoint(lon, lat)
      await page.mouse.click(p.x, p.y)
      await page.waitForTimeout(400) // not a double click
    }
    await expectReport(() => page.keyboard.press('Enter'), CASE.polySpecies, 'polygon')
  })

  await check('GeoJSON upload gives the report', async () => {
    await expectReport(() => page.setInputFiles('input[name="area-file"]', CASE.uploadFile), CASE.uploadSpecies, 'upload')
    const line = await page.locator('.area-line').innerText()
    assert(line.includes(path.basename(CASE.uploadFile)), `area line ${line}`)
  })
  await page.screenshot({ path: path.join(OUT, 'web-upload.png') })

  await check('a file without a polygon is refused with a message', async () => {
    await page.setInputFiles('input[name="area-file"]', CASE.pointFile)
    const box = page.locator('[data-testid="report-error"]')
    await box.waitFor()
    const t = await box.innerText()
    assert(/no Polygon/.test(t), `message: ${t}`)
  })
  await check('an area refused by the server shows its JSON error', async () => {
    await page.setInputFiles('input[name="area-file"]', CASE.bowtieFile)
    const box = page.locator('[data-testid="report-error"]', { hasText: 'HTTP 400' })
    await box.waitFor()
    const t = await box.innerText()
    assert(/refused/.test(t) && /(FORMAT|RANGE|INVAL)/.test(t), `message: ${t}`)
    const r = responses.filter((x) => x.url.includes('/api/report')).pop()
    assert(r && r.status === 400, `status ${r && r.status}`)
  })
  await page.screenshot({ path: path.join(OUT, 'web-error.png') })

  await check('no request leaves the server (no CDN, no basemap)', async () => {
    assert(external.length === 0, `external requests: ${external.slice(0, 3)}`)
  })
  await check('no script errors', async () => {
    // Failed resource loads of the bad-area test are expected 400s.
    const bad = pageErrors.filter((e) => !/status of 400/.test(e))
    assert(bad.length === 0, bad.slice(0, 3).join(' | '))
  })
} finally {
  await context.close()
  fs.rmSync(userDataDir, { recursive: true, force: true })
}
console.log(`web checks: ${passes} passed, ${fails} failed`)
process.exit(fails ? 1 : 0)
