/*
 * main.js - entry point of the GeoPl@ntNet web app (built by Vite into
 * web/dist, served by `gpn serve` at /).
 */
import { createApp } from 'vue'
import App from './App.vue'
import './style.css'

createApp(App).mount('#app')
