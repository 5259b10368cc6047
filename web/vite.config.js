/*
 * vite.config.js - build of the GeoPl@ntNet web app (Vue 3 single-file
 * components + Leaflet) into web/dist, which `gpn serve` serves at /.
 *
 * Why a plugin: the map has no external basemap (the app must work offline),
 * so the country polygons of the repository's Natural Earth TopoJSON
 * (data/boundaries/countries-50m.json, public domain, 756 KB, gzip-served)
 * are copied into the build as dist/basemap/countries-50m.json and drawn as a
 * plain land/borders background. When the file is missing the app simply
 * draws no background.
 *
 * `npm run dev` proxies the server routes to GPN_URL (default
 * http://127.0.0.1:8080, a running `gpn serve`).
 */
import fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'

const COUNTRIES = fileURLToPath(new URL('../data/boundaries/countries-50m.json', import.meta.url))
const BASEMAP_PATH = 'basemap/countries-50m.json'

function basemap() {
  return {
    name: 'gpn-basemap',
    configureServer(server) {
      server.middlewares.use('/' + BASEMAP_PATH, (req, res, next) => {
        if (!fs.existsSync(COUNTRIES)) return next()
        res.setHeader('Content-Type', 'application/json')
        fs.createReadStream(COUNTRIES).pipe(res)
      })
    },
    generateBundle() {
      if (!fs.existsSync(COUNTRIES)) {
        this.warn(`${COUNTRIES} not found: the app will have no land background`)
        return
      }
      this.emitFile({ type: 'asset', fileName: BASEMAP_PATH, source: fs.readFileSync(COUNTRIES) })
    },
  }
}

const target = process.env.GPN_URL || 'http://127.0.0.1:8080'
const proxy = Object.fromEntries(['/api', '/wms', '/wmts', '/tiles', '/layers'].map((p) => [p, { target }]))

export default defineConfig({
  plugins: [vue(), basemap()],
  base: '/',
  server: { proxy },
  preview: { proxy },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false },
})
