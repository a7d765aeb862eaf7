#!/usr/bin/env perl
# Prints each failed test of the given TRX reports with its message and the top of its stack,
# so the end of a long test log says what failed. Only core Perl: it runs on a bare Debian.
use strict;
use warnings;

sub unescape {
    my ($text) = @_;
    $text =~ s/&#x([0-9A-Fa-f]+);/chr(hex($1))/ge;
    $text =~ s/&#(\d+);/chr($1)/ge;
    $text =~ s/&lt;/</g;
    $text =~ s/&gt;/>/g;
    $text =~ s/&quot;/"/g;
    $text =~ s/&apos;/'/g;
    $text =~ s/&amp;/&/g;
    $text =~ s/\r//g;
    return $text;
}

my $failed = 0;
for my $file (@ARGV) {
    open(my $in, '<', $file) or die "failed-tests: cannot read $file: $!\n";
    my $xml = do { local $/; <$in> };
    close($in);
    # A result without output is an empty element (<UnitTestResult ... />).
    while ($xml =~ /<UnitTestResult\b([^>]*?)(?:\/>|>(.*?)<\/UnitTestResult>)/sg) {
        my ($attributes, $body) = ($1, $2 // '');
        next unless $attributes =~ /\boutcome="Failed"/;
        my ($name) = $attributes =~ /\btestName="([^"]*)"/;
        my ($duration) = $attributes =~ /\bduration="([^"]*)"/;
        my ($message) = $body =~ /<Message>(.*?)<\/Message>/s;
        my ($stack) = $body =~ /<StackTrace>(.*?)<\/StackTrace>/s;
        print "\n" if $failed++ == 0;
        printf "FAILED %s (%s)\n", unescape($name // '?'), $duration // '?';
        print '  ', join("\n  ", split(/\n/, unescape($message))), "\n" if defined $message;
        if (defined $stack) {
            my @lines = split(/\n/, unescape($stack));
            splice(@lines, 12) if @lines > 12;
            print '  ', join("\n  ", @lines), "\n";
        }
    }
}
print "\n$failed test(s) failed; the full output of each is in the log above and in @ARGV\n" if $failed;
