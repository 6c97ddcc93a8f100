/// <reference types="vitest/config" />
import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'

// The page is served under /passthrough/ both on S3/CloudFront and by the local stack.
// For `npm run dev`, set SMARTER_API_URL (e.g. http://localhost:9357) to proxy /v1 to a running stack.
const apiTarget = process.env.SMARTER_API_URL

export default defineConfig({
  base: '/passthrough/',
  plugins: [react()],
  server: apiTarget ? { proxy: { '/v1': { target: apiTarget, changeOrigin: true } } } : undefined,
  build: { outDir: 'dist', emptyOutDir: true },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
    restoreMocks: true,
  },
})
