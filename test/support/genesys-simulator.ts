export * from '../../lib/local/genesys-simulator.js';
