// `node --import <this file> script.ts`: registers ts-hooks.mjs for the process.
import { register } from 'node:module';

register('./ts-hooks.mjs', import.meta.url);
