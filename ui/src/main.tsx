import { render } from 'preact';
import { App } from './app.tsx';
import './styles.css';

const root = document.getElementById('app')!;
// The "loading" placeholder is not Preact's to diff against.
root.textContent = '';
render(<App />, root);
