//! Integration tests of the simulator: the short form of the Erlang C check, and scenarios whose reports must
//! make sense (staffing, abandonment, shifts, wrap-up, file formats, the chart).

mod erlang_check;
mod scenarios;
