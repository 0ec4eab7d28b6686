// The benchmark's TypeScript peer: the reference seller's get_products and create_media_buy on
// the official TypeScript framework (npm @adcp/sdk@6.11.0, createAdcpServerFromPlatform), state
// in memory. Plain CommonJS so it runs on Node without a TypeScript build.
//
// Usage: node ts_seller.cjs PORT CATALOG_JSON
//
// CATALOG_JSON is the reference seller's own get_products answer (the harness writes it), so the
// three systems serve the same products. Only the harness runs this file.
'use strict';

const fs = require('node:fs');
const http = require('node:http');
const {
  AdcpError,
  InMemoryStateStore,
  createAdcpServerFromPlatform,
  createIdempotencyStore,
  memoryBackend,
  serve,
} = require('@adcp/sdk/server');

// In-memory task registry (the framework's own escape hatch; its factory is not exported).
process.env.ADCP_DECISIONING_ALLOW_INMEMORY_TASKS = '1';

const PORT = Number(process.argv[2]);
const PRODUCTS = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));

// `serve` listens on every interface; servers started for benchmarks stay on loopback.
const listen = http.Server.prototype.listen;
http.Server.prototype.listen = function (port, ...rest) {
  return typeof port === 'number' ? listen.call(this, port, '127.0.0.1', ...rest) : listen.call(this, port, ...rest);
};

const buys = new Map();
let nextId = 1;

function time(field, v) {
  if (v === undefined || v === 'asap') return new Date();
  const t = new Date(v);
  if (Number.isNaN(t.getTime())) {
    throw new AdcpError('INVALID_REQUEST', { message: `${field} is not a date-time`, field });
  }
  return t;
}

const platform = {
  capabilities: {
    specialisms: ['sales-non-guaranteed'],
    channels: ['display', 'olv'],
    pricingModels: ['cpm'],
    config: {},
  },
  accounts: {
    resolve: async ref => {
      if (!ref) return null;
      const id = ref.account_id ?? `${ref.brand?.domain ?? ''}|${ref.operator ?? ''}`;
      return { id, name: id, status: 'active', ctx_metadata: {} };
    },
  },
  sales: {
    getProducts: async req => {
      let products = PRODUCTS;
      const f = req.filters ?? {};
      if (f.delivery_type) products = products.filter(p => p.delivery_type === f.delivery_type);
      if (f.channels) products = products.filter(p => (p.channels ?? []).some(c => f.channels.includes(c)));
      return { products };
    },
    createMediaBuy: async req => {
      const start = time('start_time', req.start_time);
      const end = time('end_time', req.end_time);
      if (end <= start) {
        throw new AdcpError('INVALID_REQUEST', { message: 'end_time must be after start_time', field: 'end_time' });
      }
      const requested = req.packages ?? [];
      if (requested.length === 0) {
        throw new AdcpError('INVALID_REQUEST', { message: 'a media buy needs at least one package', field: 'packages' });
      }
      const packages = requested.map((p, i) => {
        const product = PRODUCTS.find(x => x.product_id === p.product_id);
        if (!product) {
          throw new AdcpError('PRODUCT_NOT_FOUND', { message: 'no such product', field: `packages[${i}].product_id` });
        }
        const option = product.pricing_options.find(o => o.pricing_option_id === p.pricing_option_id);
        if (!option) {
          throw new AdcpError('INVALID_REQUEST', {
            message: 'no such pricing option',
            field: `packages[${i}].pricing_option_id`,
          });
        }
        if (!(p.budget > 0)) {
          throw new AdcpError('INVALID_REQUEST', { message: 'budget must be positive', field: `packages[${i}].budget` });
        }
        return {
          package_id: `pkg_${nextId++}`,
          product_id: product.product_id,
          pricing_option_id: option.pricing_option_id,
          budget: p.budget,
        };
      });
      const buy = {
        media_buy_id: `mb_${nextId++}`,
        status: 'pending_creatives',
        confirmed_at: new Date().toISOString(),
        packages,
      };
      buys.set(buy.media_buy_id, buy);
      return buy;
    },
    updateMediaBuy: async id => {
      const buy = buys.get(id);
      if (!buy) throw new AdcpError('MEDIA_BUY_NOT_FOUND', { message: 'no such media buy', field: 'media_buy_id' });
      return { media_buy_id: id, status: buy.status, packages: buy.packages };
    },
    syncCreatives: async creatives => creatives.map(c => ({ creative_id: c.creative_id, action: 'created' })),
    getMediaBuyDelivery: async () => ({ media_buy_deliveries: [] }),
    getMediaBuys: async () => ({ media_buys: [...buys.values()] }),
    listCreativeFormats: async () => ({ formats: [] }),
    listCreatives: async () => ({ creatives: [] }),
    providePerformanceFeedback: async () => ({ success: true }),
  },
};

const idempotency = createIdempotencyStore({ backend: memoryBackend(), ttlSeconds: 86_400 });
const stateStore = new InMemoryStateStore();

serve(
  ({ taskStore }) =>
    createAdcpServerFromPlatform(platform, {
      name: 'bench-seller',
      version: '1.0.0',
      taskStore,
      idempotency,
      stateStore,
      resolveSessionKey: ctx => ctx.account?.id ?? 'anonymous',
      // Idempotency scoped by account, as the reference seller scopes it without authentication.
      resolveIdempotencyPrincipal: ctx => ctx.account?.id,
    }),
  { port: PORT, onListening: url => console.log(`bench seller on ${url}`) }
);
