#!/usr/bin/env node
// Installed command; the program is the built module (npm run build).
import '../dist/cli/main.js';
