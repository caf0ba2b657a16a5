// The console's entry point (bundled by src/console/build.ts into console.js).

import { render } from 'preact';
import { App } from './app.jsx';
import './styles.css';

const root = document.getElementById('app');
if (root) render(<App />, root);
